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
    /// An email verification token works for 48 hours.
    public var verificationTokenLifetime: Int64 = 48 * 3_600 * 1_000_000
    /// Consecutive failed logins that lock the account (5).
    public var failuresBeforeLock: UInt32 = 5
    /// The first lock lasts 1 minute; each further lock in a row doubles, up to 1 hour.
    public var firstLock: Int64 = 60 * 1_000_000
    public var longestLock: Int64 = 3_600 * 1_000_000

    public init() {}

    /// How long the lock after `failures` consecutive failures lasts, or `nil` for no lock.
    func lockDuration(afterFailures failures: UInt32) -> Int64? {
        guard failuresBeforeLock > 0, failures > 0, failures % failuresBeforeLock == 0 else { return nil }
        let doublings = min(Int64(failures / failuresBeforeLock - 1), 32)
        return min(firstLock << doublings, longestLock)
    }
}
