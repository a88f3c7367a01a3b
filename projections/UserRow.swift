import AuthDomain
import EventLog
import Foundation

/// A projected user as the User table stores it: the public fields in the clear, then the
/// personal ones (email, password_hash, first_name, last_name, phone, stripe_customer_id)
/// sealed with the user's data key, so that LMDB's old pages never hold them in clear.
///
/// Layout (format 5): u8 format, u64 stream version, u8 role, u8 flags (1 erased),
/// i64 created_at, i64 updated_at, then optional (presence byte) deleted_at,
/// email_verified_at, last_login_at, locked_until, tokens_valid_after (i64 µs each),
/// email verification and password reset (32-byte hash + i64 expiry each), the session
/// (id, token hash, u8 count and the earlier token hashes oldest first, optional rotated-at,
/// started-at, last-used-at),
/// u32 failed logins, the pending email change's token (optional hash + expiry), the times
/// of the latest reset requests, then of the latest verification mails, then of the latest
/// notices (each a u8 count, then i64 each, oldest first, at most
/// ``UserState/requestTimesKept``), and the sealed personal part (varint length, 0 when
/// erased), whose last field is the pending change's new address (optional).
///
/// Format 4 (before notices were counted per account) lacks the notices' times, format 3
/// (before reset and verification mails were) every such time, format 2 (before email
/// changes) both email-change fields as well; all are still read, as a user with none. A
/// projection of any of them is rebuilt when authd opens it (``UserProjection/version`` 6
/// and later; 7 changed the fold only; from 8 a row may stand behind its stream by
/// rotations, folded by every read: `UserProjection+Tail`).
enum UserRow {
    static let format: UInt8 = 5

    /// What a row's personal part is sealed against.
    static func sealingContext(_ id: UUID) -> [UInt8] {
        Array("authlog users row ".utf8) + withUnsafeBytes(of: id.uuid) { Array($0) }
    }

    /// The row for `state`; `sealedPersonal` is the personal part already sealed (reused
    /// as it is when an event changed no personal field), or `nil` to seal it now.
    static func encode(
        _ state: UserState, sealedPersonal: [UInt8]? = nil, seal: ([UInt8]) throws -> [UInt8]
    ) throws -> [UInt8] {
        var writer = ByteWriter(capacity: 320)
        var personal = ByteWriter(capacity: 160)
        try withUnsafePointer(to: state) { state in
            try encode(state, sealedPersonal: sealedPersonal, into: &writer, scratch: &personal) { plain, writer in
                writer.write(lengthPrefixed: try seal(Array(plain)))
            }
        }
        return writer.bytes
    }

    /// Appends the row for the state at `state` to `writer`; `scratch` holds the personal part
    /// while it is sealed; `seal` appends the length-prefixed sealed form of the bytes it is
    /// given. For a rebuild that lays many rows out in one buffer: the state is read where it
    /// lies, field by field, instead of copied whole (a copy retains every string in it).
    static func encode(
        _ state: UnsafePointer<UserState>, sealedPersonal: [UInt8]? = nil, into writer: inout ByteWriter,
        scratch personal: inout ByteWriter, seal: (UnsafeRawBufferPointer, inout ByteWriter) throws -> Void
    ) throws {
        writer.write(format)
        writer.write(state.pointee.version)
        writer.write(state.pointee.role.code)
        writer.write(UInt8(state.pointee.isErased ? 1 : 0))
        writer.write(state.pointee.createdAt.microsecondsSince1970)
        writer.write(state.pointee.updatedAt.microsecondsSince1970)
        func time(_ writer: inout ByteWriter, _ time: Timestamp) { writer.write(time.microsecondsSince1970) }
        func pending(_ writer: inout ByteWriter, _ pending: UserState.PendingToken) {
            pending.hash.write(to: &writer)
            writer.write(pending.expiresAt.microsecondsSince1970)
        }
        writer.writeOptional(state.pointee.deletedAt, time)
        writer.writeOptional(state.pointee.emailVerifiedAt, time)
        writer.writeOptional(state.pointee.lastLoginAt, time)
        writer.writeOptional(state.pointee.lockedUntil, time)
        writer.writeOptional(state.pointee.tokensValidAfter, time)
        writer.writeOptional(state.pointee.emailVerification, pending)
        writer.writeOptional(state.pointee.passwordReset, pending)
        writer.writeOptional(state.pointee.session) { writer, session in
            writer.write(session.id)
            session.tokenHash.write(to: &writer)
            writer.write(UInt8(session.earlierTokenHashes.count))
            for hash in session.earlierTokenHashes { hash.write(to: &writer) }
            writer.writeOptional(session.rotatedAt) { $0.write($1.microsecondsSince1970) }
            writer.write(session.startedAt.microsecondsSince1970)
            writer.write(session.lastUsedAt.microsecondsSince1970)
        }
        writer.write(state.pointee.failedLogins)
        writer.writeOptional(state.pointee.emailChange?.token, pending)
        // Written in place, field by field: no array of them is made for each row.
        writer.write(UInt8(state.pointee.resetRequestTimes.count))
        for requested in state.pointee.resetRequestTimes { time(&writer, requested) }
        writer.write(UInt8(state.pointee.verificationRequestTimes.count))
        for requested in state.pointee.verificationRequestTimes { time(&writer, requested) }
        writer.write(UInt8(state.pointee.noticeTimes.count))
        for noticed in state.pointee.noticeTimes { time(&writer, noticed) }
        if state.pointee.isErased {
            writer.writeVarint(0)
        } else if let sealedPersonal {
            writer.write(lengthPrefixed: sealedPersonal)
        } else {
            personal.reset()
            personal.write(state.pointee.email)
            personal.write(state.pointee.passwordHash)
            personal.write(state.pointee.firstName)
            personal.write(state.pointee.lastName)
            personal.writeOptional(state.pointee.phone) { $0.write($1) }
            personal.writeOptional(state.pointee.stripeCustomerID) { $0.write($1) }
            personal.writeOptional(state.pointee.emailChange?.newEmail) { $0.write($1) }
            try personal.bytes.withUnsafeBytes { try seal($0, &writer) }
        }
    }

    /// The user in a row; `openedBefore` may lend the personal fields of a state opened from
    /// the very same sealed bytes, else `open` unseals the personal part (`nil`: leave it
    /// empty). Also returns the sealed personal part as stored.
    /// The stream version a row stands at (bytes 1 to 8 of every format), without decoding
    /// the rest.
    static func version(of bytes: UnsafeRawBufferPointer) throws -> UInt64 {
        guard bytes.count > 9 else { throw BinaryDecodingError.invalidValue("user row too short") }
        return UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 1, as: UInt64.self))
    }

    static func decode(
        _ bytes: UnsafeRawBufferPointer, id: UUID,
        openedBefore: (UnsafeRawBufferPointer) -> UserState? = { _ in nil },
        open: (UnsafeRawBufferPointer) throws -> [UInt8]?
    ) throws -> (state: UserState, sealedPersonal: [UInt8]) {
        var reader = ByteReader(bytes)
        let rowFormat = try reader.readUInt8()
        guard (2...format).contains(rowFormat) else { throw BinaryDecodingError.invalidValue("user row format") }
        var state = UserState(id: id)
        state.version = try reader.readUInt64()
        let roleCode = try reader.readUInt8()
        guard let role = Role(code: roleCode) else { throw BinaryDecodingError.invalidValue("role code \(roleCode)") }
        state.role = role
        state.isErased = try reader.readUInt8() & 1 == 1
        state.createdAt = Timestamp(microsecondsSince1970: try reader.readInt64())
        state.updatedAt = Timestamp(microsecondsSince1970: try reader.readInt64())
        func time(_ r: inout ByteReader) throws(BinaryDecodingError) -> Timestamp {
            Timestamp(microsecondsSince1970: try r.readInt64())
        }
        func hash(_ r: inout ByteReader) throws(BinaryDecodingError) -> TokenHash {
            TokenHash(digest: try r.readBytes(count: 32))
        }
        state.deletedAt = try reader.readOptional(time)
        state.emailVerifiedAt = try reader.readOptional(time)
        state.lastLoginAt = try reader.readOptional(time)
        state.lockedUntil = try reader.readOptional(time)
        state.tokensValidAfter = try reader.readOptional(time)
        func pending(_ r: inout ByteReader) throws(BinaryDecodingError) -> UserState.PendingToken {
            UserState.PendingToken(hash: try hash(&r), expiresAt: try time(&r))
        }
        state.emailVerification = try reader.readOptional(pending)
        state.passwordReset = try reader.readOptional(pending)
        state.session = try reader.readOptional { r throws(BinaryDecodingError) in
            let id = try r.readUUID()
            let current = try hash(&r)
            let count = Int(try r.readUInt8())
            guard count <= UserState.Session.rememberedTokens else {
                throw BinaryDecodingError.invalidValue("\(count) earlier refresh tokens")
            }
            var earlier: [TokenHash] = []
            earlier.reserveCapacity(count)
            for _ in 0..<count { earlier.append(try hash(&r)) }
            return UserState.Session(
                id: id, tokenHash: current, earlierTokenHashes: earlier, rotatedAt: try r.readOptional(time),
                startedAt: try time(&r), lastUsedAt: try time(&r))
        }
        state.failedLogins = try reader.readUInt32()
        if rowFormat >= 3, let token = try reader.readOptional(pending) {
            state.emailChange = UserState.PendingEmailChange(newEmail: "", token: token)
        }
        if rowFormat >= 4 {
            func times(_ r: inout ByteReader) throws(BinaryDecodingError) -> [Timestamp] {
                let count = Int(try r.readUInt8())
                guard count <= UserState.requestTimesKept else {
                    throw BinaryDecodingError.invalidValue("\(count) request times")
                }
                var times: [Timestamp] = []
                times.reserveCapacity(count)
                for _ in 0..<count { times.append(try time(&r)) }
                return times
            }
            state.resetRequestTimes = try times(&reader)
            state.verificationRequestTimes = try times(&reader)
            if rowFormat >= 5 { state.noticeTimes = try times(&reader) }
        }
        let sealed = try reader.readLengthPrefixed()
        guard reader.isAtEnd else { throw BinaryDecodingError.invalidValue("bytes after a user row") }
        // An erased user's row keeps no sealed part; should one carry a part anyway (a file
        // written by hand), it is neither opened nor matched: an erasure is never undone.
        guard !state.isErased, !sealed.isEmpty else { return (state, [UInt8](sealed)) }
        if let before = openedBefore(sealed) {
            state.takePersonalFields(of: before)
        } else if let personal = try open(sealed) {
            try personal.withUnsafeBytes { raw in
                var inner = ByteReader(raw)
                let string = { (r: inout ByteReader) throws(BinaryDecodingError) -> String in try r.readString() }
                state.email = try inner.readString()
                state.passwordHash = try inner.readString()
                state.firstName = try inner.readString()
                state.lastName = try inner.readString()
                state.phone = try inner.readOptional(string)
                state.stripeCustomerID = try inner.readOptional(string)
                if rowFormat >= 3, let newEmail = try inner.readOptional(string) {
                    state.emailChange?.newEmail = newEmail
                }
            }
        }
        return (state, [UInt8](sealed))
    }
}

extension UserState {
    /// The personal fields of `other`, a state decoded from a row with the same sealed personal
    /// part. The new address of a pending email change is sealed with it, and its token is in
    /// the open part: it is taken when this row has a change pending (an event that starts one
    /// seals the part again, so a row whose part was sealed with no change pending has none).
    fileprivate mutating func takePersonalFields(of other: UserState) {
        email = other.email
        passwordHash = other.passwordHash
        firstName = other.firstName
        lastName = other.lastName
        phone = other.phone
        stripeCustomerID = other.stripeCustomerID
        if emailChange != nil { emailChange?.newEmail = other.emailChange?.newEmail ?? "" }
    }
}
