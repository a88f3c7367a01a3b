import Foundation

/// What a service credential may read (``CredentialScope``): pure rules the HTTP layer applies
/// before a read, beside the ones for signed-in users.
///
/// - With `users:read` it reads any user, lists users and looks one up (by email or Stripe
///   customer id), as MANAGER may; an erased user is not found for it.
/// - It never reads a user as of a past moment, nor an audit trail: those stay ADMIN's.
/// - With `events:read` it reads the log as a feed: public fields only, unless it also holds
///   `users:read` (personal fields are what `users:read` already shows); erased users'
///   personal fields never.
/// - A credential without the scope is answered ``Rejection/insufficientScope``.
extension ReadRules {
    /// Whether a credential with `scopes` may read any one user now.
    public static func mayRead(scopes: Set<CredentialScope>) -> Bool {
        scopes.contains(.usersRead)
    }

    /// Whether a credential with `scopes` may list users or look one up by email or Stripe id.
    public static func mayList(scopes: Set<CredentialScope>) -> Bool {
        scopes.contains(.usersRead)
    }

    /// Whether `user`, once read, is shown to a credential (not found otherwise).
    public static func showsToCredential(_ user: UserState) -> Bool {
        !user.isErased
    }

    /// How much of the feed a credential with `scopes` reads; `nil`: none of it.
    public static func feedAccess(scopes: Set<CredentialScope>) -> FeedAccess? {
        guard scopes.contains(.eventsRead) else { return nil }
        return scopes.contains(.usersRead) ? .personalFields : .publicFields
    }
}
