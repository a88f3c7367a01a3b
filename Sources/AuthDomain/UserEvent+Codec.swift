import EventLog
import Foundation

/// Stored names, schema versions and binary payloads of ``UserEvent``s.
extension UserEvent {
    /// The event type written in the envelope.
    public var typeName: String { kind.name.description }

    /// Every event type is at schema version 1 so far.
    public var schemaVersion: UInt16 { 1 }

    /// Whether the payload has a sealed personal part (see ``payload(sealing:)``).
    public var hasPersonalData: Bool { kind.hasPersonalData }

    /// The stored payload: the public fields, then, for events with personal fields, those
    /// fields encoded and passed through `seal` (AES-GCM with the user's data key), length-prefixed.
    public func payload(sealing seal: ([UInt8]) throws -> [UInt8]) rethrows -> [UInt8] {
        var writer = ByteWriter(capacity: 128)
        var personal = ByteWriter(capacity: 128)
        switch self {
        case .registered(let registered):
            writer.write(registered.role.code)
            personal.write(registered.email)
            personal.write(registered.passwordHash)
            personal.write(registered.firstName)
            personal.write(registered.lastName)
            personal.writeOptional(registered.phone) { $0.write($1) }
        case .emailVerificationRequested(let issued), .passwordResetRequested(let issued):
            issued.tokenHash.write(to: &writer)
            writer.write(issued.expiresAt.microsecondsSince1970)
        case .emailVerified, .softDeleted, .restored, .erased, .stripeCustomerUnlinked:
            break
        case .loginSucceeded(let started):
            writer.write(started.sessionID)
            started.refreshTokenHash.write(to: &writer)
        case .loginFailed(let failed):
            writer.write(failed.consecutiveFailures)
            writer.writeOptional(failed.lockedUntil) { $0.write($1.microsecondsSince1970) }
        case .refreshTokenRotated(let rotated):
            writer.write(rotated.sessionID)
            rotated.refreshTokenHash.write(to: &writer)
        case .refreshTokenReuseDetected(let session), .loggedOut(let session):
            writer.write(session)
        case .passwordResetCompleted(let hash), .passwordChanged(let hash), .passwordRehashed(let hash):
            personal.write(hash)
        case .profileUpdated(let changes):
            personal.writeOptional(changes.firstName) { $0.write($1) }
            personal.writeOptional(changes.lastName) { $0.write($1) }
            personal.writeOptional(changes.phone) { writer, phone in writer.writeOptional(phone) { $0.write($1) } }
        case .roleChanged(let from, let to):
            writer.write(from.code)
            writer.write(to.code)
        case .stripeCustomerLinked(let customer):
            personal.write(customer)
        case .emailChangeRequested(let requested):
            requested.tokenHash.write(to: &writer)
            writer.write(requested.expiresAt.microsecondsSince1970)
            personal.write(requested.newEmail)
        case .emailChanged(let email):
            personal.write(email)
        }
        if hasPersonalData { writer.write(lengthPrefixed: try seal(personal.bytes)) }
        return writer.bytes
    }

    /// The event for a log entry with this type, schema version and payload. `open` turns the
    /// sealed personal part back into its bytes, or returns `nil` when the data key is gone:
    /// the event then comes back with its personal fields empty.
    public init(
        type: String, schemaVersion: UInt16, payload: UnsafeRawBufferPointer,
        opening open: (UnsafeRawBufferPointer) throws -> [UInt8]?
    ) throws {
        guard let kind = Kind(name: type) else { throw BinaryDecodingError.invalidValue("unknown event type \(type)") }
        try self.init(kind: kind, schemaVersion: schemaVersion, payload: payload, opening: open)
    }

    /// As ``init(type:schemaVersion:payload:opening:)``, for a type already recognised.
    public init(
        kind: Kind, schemaVersion: UInt16, payload: UnsafeRawBufferPointer,
        opening open: (UnsafeRawBufferPointer) throws -> [UInt8]?
    ) throws {
        guard schemaVersion == 1 else {
            throw BinaryDecodingError.invalidValue("\(kind.name) schema version \(schemaVersion)")
        }
        var reader = ByteReader(payload)
        func personal() throws -> [UInt8]? {
            try open(try reader.readLengthPrefixed())
        }
        func decode<Value>(_ bytes: [UInt8]?, empty: Value, _ body: (inout ByteReader) throws -> Value) throws -> Value
        {
            guard let bytes else { return empty }
            return try bytes.withUnsafeBytes { raw in
                var inner = ByteReader(raw)
                let value = try body(&inner)
                guard inner.isAtEnd else { throw BinaryDecodingError.invalidValue("bytes after the personal fields") }
                return value
            }
        }
        let readString = { (r: inout ByteReader) throws(BinaryDecodingError) -> String in try r.readString() }
        switch kind {
        case .registered:
            let role = try reader.readRole()
            self = .registered(
                try decode(
                    try personal(),
                    empty: Registered(email: "", passwordHash: "", firstName: "", lastName: "", phone: nil, role: role)
                ) { r in
                    Registered(
                        email: try r.readString(), passwordHash: try r.readString(), firstName: try r.readString(),
                        lastName: try r.readString(), phone: try r.readOptional(readString), role: role)
                })
        case .emailVerificationRequested: self = .emailVerificationRequested(try reader.readPendingToken())
        case .passwordResetRequested: self = .passwordResetRequested(try reader.readPendingToken())
        case .emailVerified: self = .emailVerified
        case .softDeleted: self = .softDeleted
        case .restored: self = .restored
        case .erased: self = .erased
        case .stripeCustomerUnlinked: self = .stripeCustomerUnlinked
        case .emailChangeRequested:
            let pending = try reader.readPendingToken()
            self = .emailChangeRequested(
                EmailChangeRequested(
                    newEmail: try decode(try personal(), empty: "") { try $0.readString() },
                    tokenHash: pending.tokenHash, expiresAt: pending.expiresAt))
        case .emailChanged:
            self = .emailChanged(email: try decode(try personal(), empty: "") { try $0.readString() })
        case .loginSucceeded:
            self = .loginSucceeded(
                SessionStarted(sessionID: try reader.readUUID(), refreshTokenHash: try reader.readTokenHash()))
        case .loginFailed:
            self = .loginFailed(
                LoginFailed(
                    consecutiveFailures: try reader.readUInt32(),
                    lockedUntil: try reader.readOptional { r throws(BinaryDecodingError) in
                        Timestamp(microsecondsSince1970: try r.readInt64())
                    }))
        case .refreshTokenRotated:
            self = .refreshTokenRotated(
                TokenRotated(sessionID: try reader.readUUID(), refreshTokenHash: try reader.readTokenHash()))
        case .refreshTokenReuseDetected: self = .refreshTokenReuseDetected(sessionID: try reader.readUUID())
        case .loggedOut: self = .loggedOut(sessionID: try reader.readUUID())
        case .passwordResetCompleted:
            self = .passwordResetCompleted(passwordHash: try decode(try personal(), empty: "") { try $0.readString() })
        case .passwordChanged:
            self = .passwordChanged(passwordHash: try decode(try personal(), empty: "") { try $0.readString() })
        case .passwordRehashed:
            self = .passwordRehashed(passwordHash: try decode(try personal(), empty: "") { try $0.readString() })
        case .profileUpdated:
            self = .profileUpdated(
                try decode(try personal(), empty: ProfileChanges()) { r in
                    ProfileChanges(
                        firstName: try r.readOptional(readString), lastName: try r.readOptional(readString),
                        phone: try r.readOptional { r throws(BinaryDecodingError) in try r.readOptional(readString) })
                })
        case .roleChanged: self = .roleChanged(from: try reader.readRole(), to: try reader.readRole())
        case .stripeCustomerLinked:
            self = .stripeCustomerLinked(customerID: try decode(try personal(), empty: "") { try $0.readString() })
        }
        guard reader.isAtEnd else {
            throw BinaryDecodingError.invalidValue("\(reader.remaining) bytes after a \(kind.name) payload")
        }
    }

    /// What the personal part of an event is sealed against: stream id, stream version and
    /// event type, so a sealed part cannot be moved to another event.
    public static func sealingContext(stream: UUID, version: UInt64, type: String) -> [UInt8] {
        var writer = ByteWriter(capacity: 48)
        writer.write(stream)
        writer.write(version)
        writer.write(raw: Array(type.utf8))
        return writer.bytes
    }

    /// The envelope to append, with who caused it and which request it belongs to.
    public func newEvent(
        actor: Actor, correlationID: String, sealing seal: ([UInt8]) throws -> [UInt8]
    ) rethrows -> NewEvent {
        NewEvent(
            type: typeName, schemaVersion: schemaVersion,
            metadata: EventMetadata(actor: actor.description, correlationID: correlationID),
            payload: try payload(sealing: seal))
    }
}

extension ByteReader {
    mutating func readRole() throws(BinaryDecodingError) -> Role {
        let code = try readUInt8()
        guard let role = Role(code: code) else { throw .invalidValue("role code \(code)") }
        return role
    }

    mutating func readTokenHash() throws(BinaryDecodingError) -> TokenHash {
        TokenHash(digest: try readBytes(count: 32))
    }

    mutating func readPendingToken() throws(BinaryDecodingError) -> UserEvent.PendingTokenIssued {
        UserEvent.PendingTokenIssued(
            tokenHash: try readTokenHash(), expiresAt: Timestamp(microsecondsSince1970: try readInt64()))
    }
}
