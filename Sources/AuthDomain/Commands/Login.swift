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

    /// Unknown and deleted users get the same answer as a wrong password. Only real users
    /// record `LoginFailed`, for the audit trail.
    ///
    /// Wrong passwords never lock the account: anyone who knows an email could otherwise keep
    /// its owner out. Guessing is slowed where the guesses come from, by the HTTP service's
    /// throttling per account and client address. `LoginFailed` counts the failures in a row
    /// and leaves `locked_until` empty; a lock recorded by an older release is not enforced.
    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted else { return .reject(.invalidCredentials) }
        guard passwordMatches else {
            let (failures, overflow) = state.failedLogins.addingReportingOverflow(1)
            return .reject(
                .invalidCredentials,
                recording: [
                    .loginFailed(.init(consecutiveFailures: overflow ? .max : failures, lockedUntil: nil))
                ])
        }
        var events: [UserEvent] = [.loginSucceeded(.init(sessionID: sessionID, refreshTokenHash: refreshTokenHash))]
        if let rehashedPassword { events.append(.passwordRehashed(passwordHash: rehashedPassword)) }
        return .accept(events)
    }
}
