import EventLog
import Foundation

/// Trades the session's current refresh token for a new one.
///
/// - The current token, unexpired: rotated.
/// - The token rotated away most recently, within the grace window: `token_rotated`, and the
///   session lives on (two tabs refreshing at once must not log the user out).
/// - Any other token this session issued (an older one, or that one after the window; the
///   newest ``UserState/Session/rememberedTokens`` are kept): reuse.
///   `RefreshTokenReuseDetected` revokes the session and the caller gets `invalid_token`.
/// - A token this session never issued, though it names the session (the user and session
///   ids are in every access token, so anyone who saw one can write such a token):
///   `invalid_token`, and the session is untouched, so a guess cannot log anyone out.
/// - Expired sessions, other sessions, deleted users: `invalid_token`.
public struct RotateRefreshToken: UserCommand {
    public var presented: RefreshToken
    public var newTokenHash: TokenHash
    public var policy: AuthPolicy

    public init(presented: RefreshToken, newTokenHash: TokenHash, policy: AuthPolicy = AuthPolicy()) {
        self.presented = presented
        self.newTokenHash = newTokenHash
        self.policy = policy
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted, let session = state.session, session.id == presented.sessionID else {
            return .reject(.invalidToken)
        }
        let hash = presented.secretHash
        if hash == session.tokenHash {
            guard now < session.startedAt.adding(microseconds: policy.refreshAbsoluteLifetime),
                now < session.lastUsedAt.adding(microseconds: policy.refreshIdleLifetime)
            else { return .reject(.invalidToken) }
            return .accept([.refreshTokenRotated(.init(sessionID: session.id, refreshTokenHash: newTokenHash))])
        }
        if let previous = session.previousTokenHash, hash == previous, let rotatedAt = session.rotatedAt,
            now.microseconds(since: rotatedAt) < policy.rotationGrace
        {
            return .reject(.tokenRotated)
        }
        guard session.earlierTokenHashes.contains(hash) else { return .reject(.invalidToken) }
        return .reject(.invalidToken, recording: [.refreshTokenReuseDetected(sessionID: session.id)])
    }
}
