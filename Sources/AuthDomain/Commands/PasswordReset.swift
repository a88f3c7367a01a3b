import EventLog
import Foundation

/// Issues a reset token (the handler mails it). A new request replaces the live one.
/// For unknown or deleted users it does nothing and still succeeds, so the answer never
/// tells whether an account exists.
///
/// Rules of a `limited` request (one nobody signed in made; staff in the console are not
/// limited):
/// - Past ``AuthPolicy/resetMailsPerHour`` requests of the account in the last hour (its own
///   events, ``UserState/resetRequestTimes``), it does nothing, as for an unknown address.
/// - The last request the hour allows issues a token that lives until the hour allows
///   another (the oldest counted request's time plus an hour), if that is later than its
///   own lifetime: so whoever floods the account's requests never leaves its mailbox without
///   a link that works, which the owner can use.
public struct RequestPasswordReset: UserCommand {
    public var tokenHash: TokenHash
    public var policy: AuthPolicy
    public var limited: Bool

    public init(tokenHash: TokenHash, policy: AuthPolicy = AuthPolicy(), limited: Bool = true) {
        self.tokenHash = tokenHash
        self.policy = policy
        self.limited = limited
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted else { return .accept([]) }
        var expires = now.adding(microseconds: policy.resetTokenLifetime)
        if limited {
            let limit = min(policy.resetMailsPerHour, UserState.requestTimesKept)
            let lastHour = UserState.inTheHour(before: now, of: state.resetRequestTimes)
            guard lastHour < limit else { return .accept([]) }
            if lastHour == limit - 1 {
                let oldest = state.resetRequestTimes.suffix(lastHour).first ?? now
                expires = max(expires, oldest.adding(microseconds: 3_600 * 1_000_000))
            }
        }
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
