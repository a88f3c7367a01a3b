import EventLog
import Foundation

/// Issues a new email verification token (replacing any live one) unless already verified.
public struct RequestEmailVerification: UserCommand {
    public var tokenHash: TokenHash
    public var policy: AuthPolicy

    public init(tokenHash: TokenHash, policy: AuthPolicy = AuthPolicy()) {
        self.tokenHash = tokenHash
        self.policy = policy
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted, state.emailVerifiedAt == nil else { return .accept([]) }
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
