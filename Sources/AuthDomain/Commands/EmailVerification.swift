import EventLog
import Foundation

/// Issues a new email verification token (replacing any live one) unless already verified.
/// A `limited` request (one nobody signed in made) past ``AuthPolicy/verificationMailsPerHour``
/// requests of the account in the last hour (its own events,
/// ``UserState/verificationRequestTimes``) does nothing, as for an address with no account;
/// the last link mailed lives 48 hours, so one that works is left.
public struct RequestEmailVerification: UserCommand {
    public var tokenHash: TokenHash
    public var policy: AuthPolicy
    public var limited: Bool

    public init(tokenHash: TokenHash, policy: AuthPolicy = AuthPolicy(), limited: Bool = true) {
        self.tokenHash = tokenHash
        self.policy = policy
        self.limited = limited
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted, state.emailVerifiedAt == nil else { return .accept([]) }
        if limited {
            let lastHour = UserState.inTheHour(before: now, of: state.verificationRequestTimes)
            guard lastHour < min(policy.verificationMailsPerHour, UserState.requestTimesKept) else {
                return .accept([])
            }
        }
        let expires = now.adding(microseconds: policy.verificationTokenLifetime)
        return .accept([.emailVerificationRequested(.init(tokenHash: tokenHash, expiresAt: expires))])
    }
}

/// Confirms the address with a live verification token: single use.
public struct ConfirmEmailVerification: UserCommand {
    public var presented: UserToken

    public init(presented: UserToken) {
        self.presented = presented
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted, let pending = state.emailVerification, now < pending.expiresAt,
            presented.secretHash == pending.hash
        else { return .reject(.invalidToken) }
        return .accept([.emailVerified])
    }
}
