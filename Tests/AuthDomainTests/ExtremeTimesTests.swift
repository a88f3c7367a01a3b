import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthDomain

/// States folded from a crafted log may hold any time and any failure count: deciding on
/// them never traps, and the sums saturate in the safe direction.
@Suite(.ownThreads) struct ExtremeTimesTests {
    let min = Timestamp(microsecondsSince1970: .min)
    let max = Timestamp(microsecondsSince1970: .max)

    @Test func refreshExpirySumsOfExtremeSessionTimesDoNotTrap() throws {
        let (user, token) = try signedInUser()
        for (started, used) in [(max, max), (min, min), (max, min), (min, max)] {
            var state = user
            state.session?.startedAt = started
            state.session?.lastUsedAt = used
            let decision = RotateRefreshToken(presented: token, newTokenHash: hash("n")).decide(state, now: at(20))
            // A session that started or was last used at the dawn of time has expired.
            #expect((decision.rejection == nil) == (started == max && used == max), "\(started) \(used)")
        }
        // The rotated-away token, rotated at either end of time: the difference saturates, so
        // one rotated at the dawn of time is far outside the grace window (reuse), and one
        // "rotated" in the far future is inside it, as any rotation time after now is.
        for (rotatedAt, expected) in [(min, Rejection.invalidToken), (max, .tokenRotated)] {
            var state = apply(RotateRefreshToken(presented: token, newTokenHash: hash("b")), to: user, at: at(20)).state
            state.session?.rotatedAt = rotatedAt
            let decision = RotateRefreshToken(presented: token, newTokenHash: hash("c")).decide(state, now: at(21))
            #expect(decision.rejection == expected, "\(rotatedAt)")
        }
    }

    @Test func expiriesIssuedAtTheEndOfTimeSaturate() throws {
        let user = try registeredUser()
        let reset = RequestPasswordReset(tokenHash: hash("r")).decide(user, now: max)
        #expect(reset.events == [.passwordResetRequested(.init(tokenHash: hash("r"), expiresAt: max))])
        let verification = RequestEmailVerification(tokenHash: hash("v")).decide(user, now: max)
        guard case .emailVerificationRequested(let issued)? = verification.events.first else {
            Issue.record("no verification issued: \(verification)")
            return
        }
        #expect(issued.expiresAt == max)
    }

    @Test func aFailureCountAtItsMaximumDoesNotOverflow() throws {
        var user = try registeredUser()
        user.failedLogins = .max
        let decision = Login(passwordMatches: false, sessionID: UUID(), refreshTokenHash: hash("x")).decide(
            user, now: max)
        #expect(decision.rejection == .invalidCredentials)
        #expect(decision.events.count == 1)
    }
}
