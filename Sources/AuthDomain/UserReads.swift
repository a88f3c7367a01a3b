import EventLog
import Foundation

/// The reads the HTTP layer makes of users: the port a read model (the projections) serves,
/// so that the HTTP layer depends on no storage.
///
/// Rules every implementation keeps:
/// - Each read sees one consistent snapshot of the log and never waits for a writer.
/// - Personal fields are opened with the user's data key; erased users read with them empty.
/// - `includePersonal: false` may leave the personal fields (email, names, phone, Stripe id,
///   password hash) empty: for checks that need only roles, sessions and times.
/// - A page of ``users(role:includeDeleted:limit:after:)`` is ordered by id, live users
///   first, at most `limit` (clamped to 1...1,000) long; its cursor is opaque, and a cursor
///   this read did not return is ``QueryError/invalidCursor``.
/// - Reads into the past (``user(id:asOf:)``, ``auditTrail(id:)``, ``auditPage(id:before:limit:accepts:)``)
///   fold the log itself.
public protocol UserReads: Sendable {
    /// The last log position folded into the read model (0 before its first build).
    func checkpoint() throws -> UInt64
    func user(id: UUID, includePersonal: Bool) throws -> UserState?
    /// By email, compared as the lookup key (trimmed, NFC, lower-cased).
    func user(email: String) throws -> UserState?
    /// By the Stripe customer id linked to the user (the `stripe_customer` uniqueness index).
    func user(stripeCustomerID: String) throws -> UserState?
    func users(role: Role, includeDeleted: Bool, limit: Int, after cursor: String?) throws -> UserPage
    /// The user as they were at `moment`; `nil` if they did not exist yet.
    func user(id: UUID, asOf moment: ReadMoment) throws -> UserState?
    /// The user's events in order, each with what it changed.
    func auditTrail(id: UUID) throws -> [AuditEntry]
    /// One page of the user's trail (see ``AuditPage``): `accepts` sees each event's head.
    func auditPage(id: UUID, before: UInt64?, limit: Int, accepts: (AuditHead) -> Bool) throws -> AuditPage
}

/// A page of users by role, ordered by id (registration order), live users first.
public struct UserPage: Sendable {
    public var users: [UserState]
    /// Pass back to get the next page; `nil` on the last one. Opaque.
    public var nextCursor: String?

    public init(users: [UserState], nextCursor: String?) {
        self.users = users
        self.nextCursor = nextCursor
    }
}

/// One line of a user's audit trail.
public struct AuditEntry: Hashable, Sendable {
    public var position: UInt64
    public var recordedAt: Timestamp
    public var type: String
    public var actor: String
    public var correlationID: String
    /// Field (the seed's snake_case name) -> new value. Secrets (password_hash, token
    /// hashes) appear as "changed", never with a value.
    public var changes: [String: String]

    public init(
        position: UInt64, recordedAt: Timestamp, type: String, actor: String, correlationID: String,
        changes: [String: String]
    ) {
        self.position = position
        self.recordedAt = recordedAt
        self.type = type
        self.actor = actor
        self.correlationID = correlationID
        self.changes = changes
    }
}

/// What the timeline's filter sees of an event: its envelope, not its payload.
public struct AuditHead: Sendable {
    public var position: UInt64
    public var recordedAt: Timestamp
    public var type: String

    public init(position: UInt64, recordedAt: Timestamp, type: String) {
        self.position = position
        self.recordedAt = recordedAt
        self.type = type
    }
}

/// One page of a user's audit trail, newest first.
///
/// Rules:
/// - `matching` counts every event the filter accepts; the page holds, of those, the newest
///   `limit` older than `before` (all of them without `before`), newest first; `more` says
///   older ones remain.
/// - Each entry carries, for each field it changed, the field's value before it as the
///   trail wrote it at the field's last change ("" if it had never changed).
public struct AuditPage: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var entry: AuditEntry
        /// Field -> its value before this event (see the rules).
        public var before: [String: String]

        public init(entry: AuditEntry, before: [String: String]) {
            self.entry = entry
            self.before = before
        }
    }

    public var entries: [Entry] = []
    public var matching = 0
    public var more = false

    public init() {}

    /// The page cut from a whole trail, the plain way: the reference the read models'
    /// ``UserReads/auditPage(id:before:limit:accepts:)`` is tested against.
    public init(trail: [AuditEntry], before: UInt64?, limit: Int, accepts: (AuditHead) -> Bool) {
        var chosen: [Int] = []
        for index in trail.indices.reversed() {
            let entry = trail[index]
            guard accepts(AuditHead(position: entry.position, recordedAt: entry.recordedAt, type: entry.type)) else {
                continue
            }
            matching += 1
            if let before, entry.position >= before { continue }
            if chosen.count < limit { chosen.append(index) } else { more = true }
        }
        guard let newest = chosen.first else { return }
        let wanted = Set(chosen)
        var current: [String: String] = [:]
        var byIndex: [Int: Entry] = [:]
        for index in 0...newest {
            let entry = trail[index]
            if wanted.contains(index) {
                var before: [String: String] = [:]
                for field in entry.changes.keys { before[field] = current[field] ?? "" }
                byIndex[index] = Entry(entry: entry, before: before)
            }
            for (field, after) in entry.changes { current[field] = after }
        }
        entries = chosen.compactMap { byIndex[$0] }
    }
}
