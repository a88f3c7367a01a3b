import EventLog
import Foundation

/// Issues a reset token (the handler mails it). A new request replaces the live one.
/// For unknown or deleted users it does nothing and still succeeds, so the answer never
/// tells whether an account exists; so it does past ``AuthPolicy/resetMailsPerHour``
/// requests of the account in the last hour.
public struct RequestPasswordReset: UserCommand {
    public var tokenHash: TokenHash
    public var policy: AuthPolicy

    public init(tokenHash: TokenHash, policy: AuthPolicy = AuthPolicy()) {
        self.tokenHash = tokenHash
        self.policy = policy
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted else { return .accept([]) }
        // The account's reset mails in the last hour, from its own events: past the limit,
        // nothing is issued or mailed, as for an unknown address.
        let hourAgo = now.adding(microseconds: -3_600 * 1_000_000)
        let lastHour = state.resetRequestTimes.reversed().prefix { $0 > hourAgo }.count
        guard lastHour < min(policy.resetMailsPerHour, UserState.resetRequestsKept) else { return .accept([]) }
        let expires = now.adding(microseconds: policy.resetTokenLifetime)
        return .accept([.passwordResetRequested(.init(tokenHash: tokenHash, expiresAt: expires))])
    }
}

/// Sets a new password with a live reset token: single use; ends the session.
public struct CompletePasswordReset: UserCommand {
    public var presented: UserToken
    public var newPasswordHash: String

    public init(presented: UserToken, newPasswordHash: String) {
        self.presented = presented
        self.newPasswordHash = newPasswordHash
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted, let pending = state.passwordReset, now < pending.expiresAt,
            presented.secretHash == pending.hash
        else { return .reject(.invalidToken) }
        return .accept([.passwordResetCompleted(passwordHash: newPasswordHash)])
    }
}

/// Changes the password of a signed-in user who gave the current one; ends the session and
/// moves `tokens_valid_after`, as a reset does.
///
/// A wrong current password is rejected and recorded as `LoginFailed`, as a wrong password at
/// login is: the audit trail shows every failed password check on the account.
public struct ChangePassword: UserCommand {
    public var actor: Actor
    public var currentPasswordMatches: Bool
    public var newPasswordHash: String

    public init(actor: Actor, currentPasswordMatches: Bool, newPasswordHash: String) {
        self.actor = actor
        self.currentPasswordMatches = currentPasswordMatches
        self.newPasswordHash = newPasswordHash
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted else { return .reject(.notFound) }
        guard actor.isUser(state.id) else { return .reject(.forbidden) }
        guard currentPasswordMatches else { return .wrongCurrentPassword(state) }
        return .accept([.passwordChanged(passwordHash: newPasswordHash)])
    }
}
