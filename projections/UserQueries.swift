import AuthDomain
import DataProtection
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import LMDB

/// The read API over the projections, shared by the HTTP layer and authctl: the
/// projection-backed ``UserReads``.
///
/// Every query runs in its own LMDB read transaction: it never waits for the writer and sees
/// one consistent snapshot (one generation of the projection). Personal fields are opened
/// with the user's data key as they are read; erased users come back with them empty.
public struct UserQueries: UserReads {
    let projection: UserProjection

    public init(_ projection: UserProjection) {
        self.projection = projection
    }

    var log: LMDBEventLog { projection.log }

    /// The last log position folded into the users projection (0 before its first build).
    public func checkpoint() throws -> UInt64 {
        try projection.status()?.checkpoint ?? 0
    }

    // MARK: Point reads

    /// `includePersonal: false` skips opening the sealed part (email, names, phone, Stripe id,
    /// password hash read back empty): for checks that need only roles, sessions and times.
    public func user(id: UUID, includePersonal: Bool = true) throws -> UserState? {
        try log.environment.read { txn in
            guard let g = try projection.liveGeneration(in: txn) else { return nil }
            if includePersonal { return try projection.readUser(id, generation: g, in: txn) }
            return try projection.readPublicUser(id, generation: g, in: txn)
        }
    }

    public func user(stripeCustomerID: String) throws -> UserState? {
        guard
            let id = try log.owner(of: LinkStripeCustomer.claimKey(stripeCustomerID), in: LinkStripeCustomer.claimScope)
        else { return nil }
        return try user(id: id)
    }

    // MARK: The role index

    public typealias Page = UserPage

    public func users(role: Role, includeDeleted: Bool = false, limit: Int = 50, after cursor: String? = nil) throws
        -> Page
    {
        let start: [UInt8]
        if let cursor {
            guard let key = Self.decodeCursor(cursor), key.count == 18, key[0] == role.code else {
                throw QueryError.invalidCursor
            }
            start = key
        } else {
            start = [role.code, 0]
        }
        let limit = max(1, min(limit, 1_000))
        return try log.environment.read { txn in
            guard let g = try projection.liveGeneration(in: txn) else { return Page(users: [], nextCursor: nil) }
            return try txn.withCursor(projection.tables[g].roles) { walk in
                var users: [UserState] = []
                users.reserveCapacity(min(limit, 128))
                var entryKey = try start.withUnsafeBytes { try walk.seek(atOrAfter: $0) }
                if cursor != nil, let current = entryKey, current.key.elementsEqual(start) {
                    entryKey = try walk.next()
                }
                // Points into the map, valid until the read transaction ends: copied only
                // for the cursor of a page that has a next one.
                var last: UnsafeRawBufferPointer?
                while let current = entryKey, current.key.count == 18, current.key[0] == role.code,
                    includeDeleted || current.key[1] == 0
                {
                    if users.count == limit {
                        return Page(users: users, nextCursor: last.map { Self.encodeCursor(Array($0)) })
                    }
                    let id = current.key.loadUnaligned(fromByteOffset: 2, as: uuid_t.self)
                    if let state = try projection.readUser(UUID(uuid: id), generation: g, in: txn) {
                        users.append(state)
                    }
                    last = current.key
                    entryKey = try walk.next()
                }
                return Page(users: users, nextCursor: nil)
            }
        }
    }

    /// Users holding `role` now (soft-deleted ones only if asked).
    public func count(role: Role, includeDeleted: Bool = false) throws -> Int {
        try log.environment.read { txn in
            guard let g = try projection.liveGeneration(in: txn) else { return 0 }
            let statuses: [UInt8] = includeDeleted ? [0, 1] : [0]
            return try statuses.reduce(0) { total, status in
                let value = try [role.code, status].withUnsafeBytes {
                    try txn.get(projection.tables[g].counts, key: $0)
                }
                return total + Int(value.map { Int64(bigEndian: $0.loadUnaligned(as: Int64.self)) } ?? 0)
            }
        }
    }

    static func encodeCursor(_ key: [UInt8]) -> String {
        Data(key).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(
            of: "/", with: "_"
        )
        .replacingOccurrences(of: "=", with: "")
    }

    static func decodeCursor(_ text: String) -> [UInt8]? {
        guard text.count <= 32 else { return nil }
        let standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        return Data(base64Encoded: standard + String(repeating: "=", count: (4 - standard.count % 4) % 4)).map {
            [UInt8]($0)
        }
    }

    // MARK: Time travel and audit

    public typealias Moment = ReadMoment
    public typealias AuditEntry = AuthDomain.AuditEntry

    /// The user as they were at `moment`, by folding their stream up to it; `nil` if they did
    /// not exist yet.
    ///
    /// A stream's events come in log order, so a position stops the fold at the first event
    /// after it: nothing later is decoded. A time is checked on every event (a clock may step
    /// back, so a later event may carry an earlier time).
    public func user(id: UUID, asOf moment: Moment) throws -> UserState? {
        var state = UserState(id: id)
        // Past a position nothing more is included: the read stops there.
        try log.forEachEvent(inStream: id, from: 1) { event in
            guard moment.includes(event) else {
                if case .position = moment { return false }
                return true
            }
            state = state.evolve(try projection.sealing.decode(event), at: event.recordedAt)
            return true
        }
        return state.exists ? state : nil
    }

    /// Who held `role` at `moment` (not soft-deleted then), by folding the log up to it.
    public func holders(of role: Role, asOf moment: Moment) throws -> [UUID] {
        var roles: [UUID: (role: Role, deleted: Bool)] = [:]
        try log.forEachEnvelope(from: 1) { view in
            let event = view.recorded
            guard moment.includes(event) else { return false }
            let decoded = try projection.sealing.decode(view)
            var current = roles[view.streamID] ?? (.target, false)
            switch decoded {
            case .registered(let registered): current.role = registered.role
            case .roleChanged(_, let to): current.role = to
            case .softDeleted, .erased: current.deleted = true
            case .restored: current.deleted = false
            default: return true
            }
            roles[view.streamID] = current
            return true
        }
        return roles.filter { $0.value.role == role && !$0.value.deleted }.map(\.key)
            .sorted { uuidKey($0).lexicographicallyPrecedes(uuidKey($1)) }
    }

    /// The user's events in order, each with what it changed.
    public func auditTrail(id: UUID) throws -> [AuditEntry] {
        var state = UserState(id: id)
        return try log.readStream(id, from: 1).map { event in
            let next = state.evolve(try projection.sealing.decode(event), at: event.recordedAt)
            defer { state = next }
            return AuditEntry(
                position: event.position, recordedAt: event.recordedAt, type: event.type, actor: event.metadata.actor,
                correlationID: event.metadata.correlationID, changes: Self.changes(from: state, to: next))
        }
    }

    static func changes(from old: UserState, to new: UserState) -> [String: String] {
        var changes: [String: String] = [:]
        func note(_ field: String, _ before: String?, _ after: String?) {
            if before != after { changes[field] = after ?? "" }
        }
        note("email", old.email, new.email)
        note("first_name", old.firstName, new.firstName)
        note("last_name", old.lastName, new.lastName)
        note("phone", old.phone, new.phone)
        note("role", old.exists ? old.role.rawValue : nil, new.role.rawValue)
        note("stripe_customer_id", old.stripeCustomerID, new.stripeCustomerID)
        note("pending_email", old.emailChange?.newEmail, new.emailChange?.newEmail)
        // Times and counts are written out only when their values differ (equal values write
        // the same text): most events change none of them.
        func noteTime(_ field: String, _ before: Timestamp?, _ after: Timestamp?) {
            if before != after { note(field, before?.description, after?.description) }
        }
        noteTime("email_verified_at", old.emailVerifiedAt, new.emailVerifiedAt)
        noteTime("last_login_at", old.lastLoginAt, new.lastLoginAt)
        noteTime("deleted_at", old.deletedAt, new.deletedAt)
        noteTime("locked_until", old.lockedUntil, new.lockedUntil)
        noteTime("tokens_valid_after", old.tokensValidAfter, new.tokensValidAfter)
        if old.failedLogins != new.failedLogins {
            note("failed_logins", String(old.failedLogins), String(new.failedLogins))
        }
        for (field, changed) in [
            ("password_hash", old.passwordHash != new.passwordHash),
            ("refresh_token_hash", old.refreshTokenHash != new.refreshTokenHash),
            ("password_reset_token", old.passwordReset?.hash != new.passwordReset?.hash),
            ("email_verification_token", old.emailVerification?.hash != new.emailVerification?.hash),
            ("email_change_token", old.emailChange?.token.hash != new.emailChange?.token.hash),
        ] where changed {
            changes[field] = "changed"
        }
        return changes
    }
}
