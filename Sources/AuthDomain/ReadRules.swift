import Foundation

/// Who may read whom: pure rules the HTTP layer applies before a read.
///
/// - A user reads themselves; ADMIN and MANAGER read anyone.
/// - Only ADMIN reads a user as they were at a past moment, and a user's audit trail.
/// - Only ADMIN and MANAGER list users (by role), or look one up (by email or Stripe customer id).
/// - An erased user is shown only to ADMIN; anyone else is told there is no such user.
/// - Of signed-in users, only ADMIN reads the log as a feed (``feedAccess(role:)``), with personal fields.
/// - A service credential reads by its scopes instead (see ReadRules+Credentials.swift).
public enum ReadRules {
    /// Whether `reader` (a signed-in user with `role`) may read user `target` now.
    public static func mayRead(_ target: UUID, reader: UUID, role: Role) -> Bool {
        reader == target || role == .admin || role == .manager
    }

    /// Whether a reader with `role` may read a user as of a past moment.
    public static func mayReadPast(role: Role) -> Bool {
        role == .admin
    }

    /// Whether a reader with `role` may read a user's audit trail (their events).
    public static func mayReadAuditTrail(role: Role) -> Bool {
        role == .admin
    }

    /// Whether a reader with `role` may list users by role or look one up by email or Stripe id.
    public static func mayList(role: Role) -> Bool {
        role == .admin || role == .manager
    }

    /// Whether `user`, once read, is shown to a reader with `role` (not found otherwise).
    public static func shows(_ user: UserState, to role: Role) -> Bool {
        !user.isErased || role == .admin
    }

    /// Who may read the log as a feed (`/v1/events`, its stream), and how much of it: the one
    /// rule every feed route asks. ADMIN reads it with personal fields; nobody else reads it
    /// (`nil`). Erased users' personal fields stay out whatever this answers (their key is gone).
    public static func feedAccess(role: Role) -> FeedAccess? {
        role == .admin ? .personalFields : nil
    }
}
