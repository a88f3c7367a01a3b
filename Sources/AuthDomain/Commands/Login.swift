import EventLog
import Foundation

/// Signs in with a password the handler has already checked against the stored hash
/// (off the event loop, in the hashing pool). Starts the user's one session.
public struct Login: UserCommand {
    public var passwordMatches: Bool
    /// A new hash of the same password when the stored one is below the current parameters.
    public var rehashedPassword: String?
    public var sessionID: UUID
    public var refreshTokenHash: TokenHash
    public var policy: AuthPolicy

    public init(
        passwordMatches: Bool, rehashedPassword: String? = nil, sessionID: UUID, refreshTokenHash: TokenHash,
        policy: AuthPolicy = AuthPolicy()
    ) {
        self.passwordMatches = passwordMatches
        self.rehashedPassword = rehashedPassword
        self.sessionID = sessionID
        self.refreshTokenHash = refreshTokenHash
        self.policy = policy
    }

    /// Unknown, deleted and locked users get the same answer as a wrong password. Only real,
    /// unlocked users record `LoginFailed`, which may lock the account.
    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted else { return .reject(.invalidCredentials) }
        if let until = state.lockedUntil, now < until { return .reject(.invalidCredentials) }
        guard passwordMatches else {
            let failures = state.failedLogins < .max ? state.failedLogins + 1 : .max
            let lock = policy.lockDuration(afterFailures: failures).map { now.adding(microseconds: $0) }
            return .reject(
                .invalidCredentials, recording: [.loginFailed(.init(consecutiveFailures: failures, lockedUntil: lock))])
        }
        var events: [UserEvent] = [.loginSucceeded(.init(sessionID: sessionID, refreshTokenHash: refreshTokenHash))]
        if let rehashedPassword { events.append(.passwordRehashed(passwordHash: rehashedPassword)) }
        return .accept(events)
    }
}
