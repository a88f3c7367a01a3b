import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthDomain

/// The exact edges of the time windows: each window is half-open, `[start, start + length)`.
@Suite(.ownThreads) struct BoundaryTests {
    /// The token rotated away most recently is `token_rotated` for 10 s after the rotation:
    /// 1 µs before the 10th second it still is; at exactly 10 s it is reuse, which revokes.
    @Test func theGraceWindowEndsAtExactlyTenSeconds() throws {
        let (user, token) = try signedInUser()
        let rotated = apply(RotateRefreshToken(presented: token, newTokenHash: hash("b")), to: user, at: at(20)).state
        let replay = RotateRefreshToken(presented: token, newTokenHash: hash("c"))
        let lastMoment = at(30).adding(microseconds: -1)
        #expect(replay.decide(rotated, now: lastMoment) == .reject(.tokenRotated))
        let (after, decision) = apply(replay, to: rotated, at: at(30))
        #expect(decision == .reject(.invalidToken, recording: [.refreshTokenReuseDetected(sessionID: token.sessionID)]))
        #expect(after.session == nil)
    }

    /// An email verification token works for 48 hours: 1 µs before, yes; at exactly 48 h and
    /// 1 s past, `invalid_token`, and the address stays unverified.
    @Test func aVerificationTokenWorksUntilExactlyFortyEightHours() throws {
        let user = try registeredUser()
        let token = UserToken(userID: user.id, secret: secretA)
        let issued = at(1_000)
        let requested = apply(RequestEmailVerification(tokenHash: token.secretHash), to: user, at: issued).state
        let expiry = issued.adding(microseconds: 48 * 3_600 * 1_000_000)
        #expect(requested.emailVerification?.expiresAt == expiry)
        let confirm = ConfirmEmailVerification(presented: token)
        #expect(confirm.decide(requested, now: expiry.adding(microseconds: -1)) == .accept([.emailVerified]))
        for late in [expiry, expiry.adding(microseconds: 1), expiry.adding(microseconds: 1_000_000)] {
            let (after, decision) = apply(confirm, to: requested, at: late)
            #expect(decision == .reject(.invalidToken))
            #expect(after.emailVerifiedAt == nil)
        }
    }
}
