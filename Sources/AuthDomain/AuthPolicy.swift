/// Lifetimes and thresholds of the authentication rules, with their defaults.
public struct AuthPolicy: Hashable, Sendable {
    /// A refresh session ends this long after login, however often it is used (30 days).
    public var refreshAbsoluteLifetime: Int64 = 30 * 86_400 * 1_000_000
    /// ... or this long after its last use (7 days).
    public var refreshIdleLifetime: Int64 = 7 * 86_400 * 1_000_000
    /// The token rotated away most recently is refused as `token_rotated`, without revoking
    /// the session, for this long (10 s); 0 turns the grace off.
    public var rotationGrace: Int64 = 10 * 1_000_000
    /// A reset token works for 30 minutes.
    public var resetTokenLifetime: Int64 = 30 * 60 * 1_000_000
    /// Reset links mailed for one account in any hour, counted from its own events
    /// (``UserState/resetRequestTimes``), so every node of a cluster and every restart count
    /// together (5); a request past them issues nothing and mails nothing, and is answered as
    /// any other. At most ``UserState/requestTimesKept`` count.
    public var resetMailsPerHour = 5
    /// Verification mails asked for one account in any hour (the registration's own is not
    /// counted), counted the same way (``UserState/verificationRequestTimes``) (3).
    public var verificationMailsPerHour = 3
    /// An email verification token works for 48 hours.
    public var verificationTokenLifetime: Int64 = 48 * 3_600 * 1_000_000
    /// An email change's confirmation token works for 24 hours.
    public var emailChangeTokenLifetime: Int64 = 24 * 3_600 * 1_000_000

    public init() {}
}
