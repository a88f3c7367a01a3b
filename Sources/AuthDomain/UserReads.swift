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
/// - Reads into the past (``user(id:asOf:)``, ``auditTrail(id:)``) fold the log itself.
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
