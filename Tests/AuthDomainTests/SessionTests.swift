import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthDomain

@Suite(.ownThreads) struct RotationTests {
    @Test func theCurrentTokenRotates() throws {
        let (user, token) = try signedInUser()
        let next = RefreshToken(userID: user.id, sessionID: token.sessionID, secret: secretB)
        let (after, decision) = apply(
            RotateRefreshToken(presented: token, newTokenHash: next.secretHash), to: user, at: at(20))
        #expect(decision.rejection == nil)
        #expect(after.refreshTokenHash == next.secretHash)
        #expect(after.session?.previousTokenHash == token.secretHash)
    }

    @Test func thePreviousTokenWithinTheGraceWindowIsTokenRotatedAndTheSessionLives() throws {
        let (user, token) = try signedInUser()
        let rotated = apply(RotateRefreshToken(presented: token, newTokenHash: hash("b")), to: user, at: at(20)).state
        let again = RotateRefreshToken(presented: token, newTokenHash: hash("c")).decide(rotated, now: at(29))
        #expect(again == .reject(.tokenRotated))
    }

    @Test func thePreviousTokenAfterTheWindowIsReuseAndRevokesTheSession() throws {
        let (user, token) = try signedInUser()
        let rotated = apply(RotateRefreshToken(presented: token, newTokenHash: hash("b")), to: user, at: at(20)).state
        let (after, decision) = apply(
            RotateRefreshToken(presented: token, newTokenHash: hash("c")), to: rotated, at: at(31))
        #expect(decision == .reject(.invalidToken, recording: [.refreshTokenReuseDetected(sessionID: token.sessionID)]))
        #expect(after.session == nil)
    }

    @Test func anOlderTokenIsReuseEvenWithinTheWindow() throws {
        let (user, first) = try signedInUser()
        let second = RefreshToken(userID: user.id, sessionID: first.sessionID, secret: secretB)
        var state = apply(RotateRefreshToken(presented: first, newTokenHash: second.secretHash), to: user, at: at(20))
            .state
        state = apply(RotateRefreshToken(presented: second, newTokenHash: hash("c")), to: state, at: at(21)).state
        let decision = RotateRefreshToken(presented: first, newTokenHash: hash("d")).decide(state, now: at(22))
        #expect(decision.events == [.refreshTokenReuseDetected(sessionID: first.sessionID)])
    }

    @Test func aTokenThatNamesTheSessionButWasNeverIssuedLeavesTheSessionAlone() throws {
        let (user, token) = try signedInUser()
        let rotated = apply(RotateRefreshToken(presented: token, newTokenHash: hash("b")), to: user, at: at(20)).state
        // The ids are public (they are in every access token); the secret is a guess.
        let guess = RefreshToken(
            userID: user.id, sessionID: token.sessionID, secret: [UInt8](repeating: 7, count: 32))
        for state in [user, rotated] {
            let decision = RotateRefreshToken(presented: guess, newTokenHash: hash("c")).decide(state, now: at(40))
            #expect(decision == .reject(.invalidToken))
        }
    }

    @Test func aSessionRemembersItsNewestSixteenEarlierTokens() throws {
        var policy = AuthPolicy()
        policy.rotationGrace = 0
        let (user, first) = try signedInUser()
        var state = user
        var issued = [first]
        for index in 1...20 {
            let next = RefreshToken(
                userID: user.id, sessionID: first.sessionID, secret: [UInt8](repeating: UInt8(index), count: 32))
            state =
                apply(
                    RotateRefreshToken(presented: issued.last!, newTokenHash: next.secretHash, policy: policy),
                    to: state,
                    at: at(20 + Int64(index))
                ).state
            issued.append(next)
        }
        let session = try #require(state.session)
        #expect(session.earlierTokenHashes == issued[4..<20].map(\.secretHash))
        #expect(session.previousTokenHash == issued[19].secretHash)
        // The oldest ones are forgotten: presented now, they are merely invalid.
        let forgotten = RotateRefreshToken(presented: issued[3], newTokenHash: hash("x"), policy: policy)
        #expect(forgotten.decide(state, now: at(60)) == .reject(.invalidToken))
        let remembered = RotateRefreshToken(presented: issued[4], newTokenHash: hash("x"), policy: policy)
        #expect(
            remembered.decide(state, now: at(60)).events == [.refreshTokenReuseDetected(sessionID: first.sessionID)])
    }

    @Test func aNewLoginForgetsTheEarlierSessionsTokens() throws {
        let (user, token) = try signedInUser()
        let rotated = apply(RotateRefreshToken(presented: token, newTokenHash: hash("b")), to: user, at: at(20)).state
        let again = rotated.evolve(.loginSucceeded(.init(sessionID: UUID(), refreshTokenHash: hash("n"))), at: at(30))
        #expect(again.session?.earlierTokenHashes == [])
    }

    @Test func aZeroGraceWindowTreatsAnyReplayAsReuse() throws {
        var policy = AuthPolicy()
        policy.rotationGrace = 0
        let (user, token) = try signedInUser()
        let rotated = apply(
            RotateRefreshToken(presented: token, newTokenHash: hash("b"), policy: policy), to: user, at: at(20)
        ).state
        let decision = RotateRefreshToken(presented: token, newTokenHash: hash("c"), policy: policy).decide(
            rotated, now: at(20))
        #expect(decision.rejection == .invalidToken && decision.events.count == 1)
    }

    @Test func sessionsExpireAbsolutelyAndWhenIdle() throws {
        let (user, token) = try signedInUser()
        let idle = RotateRefreshToken(presented: token, newTokenHash: hash("b")).decide(user, now: at(10 + 7 * 86_400))
        #expect(idle == .reject(.invalidToken))
        var state = user
        var current = token
        var time: Int64 = 10
        for step in 0..<6 {  // used every 6 days: never idle, but 30 days pass
            time += 6 * 86_400
            let next = RefreshToken(
                userID: user.id, sessionID: token.sessionID, secret: [UInt8](repeating: UInt8(step), count: 32))
            let result = apply(
                RotateRefreshToken(presented: current, newTokenHash: next.secretHash), to: state, at: at(time))
            if step < 4 {
                #expect(result.decision.rejection == nil)
                current = next
            } else {
                #expect(result.decision == .reject(.invalidToken))
            }
            state = result.state
        }
    }

    @Test func otherSessionsAndForgedTokensAreRefused() throws {
        let (user, token) = try signedInUser()
        let otherSession = RefreshToken(userID: user.id, sessionID: UUID(), secret: secretA)
        #expect(
            RotateRefreshToken(presented: otherSession, newTokenHash: hash("b")).decide(user, now: at(11))
                == .reject(.invalidToken))
        let loggedOut = apply(Logout(sessionID: token.sessionID), to: user, at: at(12)).state
        #expect(
            RotateRefreshToken(presented: token, newTokenHash: hash("b")).decide(loggedOut, now: at(13))
                == .reject(.invalidToken))
    }

    @Test func tokensRoundTripAndMalformedOnesParseToNil() {
        let token = RefreshToken(userID: UUID(), sessionID: UUID(), secret: secretA)
        #expect(RefreshToken(parsing: token.text) == token)
        #expect(token.text.count == 87)
        let parts = token.text.split(separator: ".").map(String.init)
        for bad in [
            "", "abc", ".", token.text + ".x", token.text + ".", "." + token.text, parts[0] + parts[1],
            parts[0] + ".." + parts[1], "!!" + token.text.dropFirst(2), String(token.text.dropLast(2)),
        ] {
            #expect(RefreshToken(parsing: bad) == nil)
        }
        let reset = UserToken(userID: UUID(), secret: secretB)
        #expect(UserToken(parsing: reset.text) == reset)
        #expect(UserToken(parsing: token.text) == nil)
    }

    @Test func tokenHashesCompareByValue() {
        #expect(hash("a") == hash("a"))
        #expect(hash("a") != hash("b"))
        #expect(TokenHash(bytes: [1, 2]) == nil)
    }
}

@Suite(.ownThreads) struct PasswordResetTests {
    @Test func aResetTokenWorksOnceWithinItsLifetimeAndEndsTheSession() throws {
        let (user, _) = try signedInUser()
        let token = UserToken(userID: user.id, secret: secretB)
        let requested = apply(RequestPasswordReset(tokenHash: token.secretHash), to: user, at: at(100)).state
        #expect(requested.passwordReset?.expiresAt == at(100 + 1_800))
        let (done, decision) = apply(
            CompletePasswordReset(presented: token, newPasswordHash: "new"), to: requested, at: at(200))
        #expect(decision.events == [.passwordResetCompleted(passwordHash: "new")])
        #expect(done.session == nil && done.tokensValidAfter == at(200) && done.passwordHash == "new")
        #expect(
            CompletePasswordReset(presented: token, newPasswordHash: "again").decide(done, now: at(201))
                == .reject(.invalidToken))
    }

    @Test func expiredWrongAndReplacedTokensAreRefused() throws {
        let user = try registeredUser()
        let first = UserToken(userID: user.id, secret: secretA)
        let second = UserToken(userID: user.id, secret: secretB)
        var state = apply(RequestPasswordReset(tokenHash: first.secretHash), to: user, at: at(100)).state
        #expect(
            CompletePasswordReset(presented: first, newPasswordHash: "n").decide(state, now: at(100 + 1_800))
                == .reject(.invalidToken))
        state = apply(RequestPasswordReset(tokenHash: second.secretHash), to: state, at: at(150)).state
        #expect(
            CompletePasswordReset(presented: first, newPasswordHash: "n").decide(state, now: at(160))
                == .reject(.invalidToken))
        let forged = UserToken(userID: user.id, secret: secretC)
        #expect(
            CompletePasswordReset(presented: forged, newPasswordHash: "n").decide(state, now: at(160))
                == .reject(.invalidToken))
        #expect(
            CompletePasswordReset(presented: second, newPasswordHash: "n").decide(state, now: at(160)).rejection == nil)
    }

    /// The account's reset mails are limited from its own events: past `resetMailsPerHour`
    /// requests in the last hour a request issues nothing (answered as for an unknown address);
    /// an hour after the oldest of them, one more goes. At most 32 times are kept, the newest.
    @Test func resetsPastTheHourlyLimitOfTheAccountIssueNothing() throws {
        var policy = AuthPolicy()
        policy.resetMailsPerHour = 3
        var state = try registeredUser()
        for (index, second) in [100, 200, 300].enumerated() {
            let request = RequestPasswordReset(tokenHash: hash("t\(index)"), policy: policy)
            let (next, decision) = apply(request, to: state, at: at(Int64(second)))
            #expect(decision.events.count == 1)
            state = next
        }
        #expect(state.resetRequestTimes == [at(100), at(200), at(300)])
        let fourth = RequestPasswordReset(tokenHash: hash("t3"), policy: policy)
        #expect(fourth.decide(state, now: at(400)) == .accept([]))
        #expect(fourth.decide(state, now: at(99 + 3_600)) == .accept([]), "the oldest is not yet an hour old")
        #expect(fourth.decide(state, now: at(100 + 3_600)).events.count == 1)
        // The live token stays the last one issued; the last the hour allowed lives until the
        // hour allows another (the oldest counted, 100, plus an hour), not its 30 minutes.
        #expect(state.passwordReset?.hash == hash("t2"))
        #expect(state.passwordReset?.expiresAt == at(100 + 3_600))
        // Staff in the console are not limited.
        let staff = RequestPasswordReset(tokenHash: hash("t3"), policy: policy, limited: false)
        #expect(
            staff.decide(state, now: at(400)).events == [
                .passwordResetRequested(.init(tokenHash: hash("t3"), expiresAt: at(400 + 1_800)))
            ])

        // A fold keeps the newest 32, and a limit above 32 counts 32.
        for second in 10_000..<10_040 {
            state.apply(
                .passwordResetRequested(.init(tokenHash: hash("x"), expiresAt: at(20_000))), at: at(Int64(second)))
        }
        #expect(state.resetRequestTimes.count == UserState.requestTimesKept)
        #expect(state.resetRequestTimes.first == at(10_008) && state.resetRequestTimes.last == at(10_039))
        policy.resetMailsPerHour = 100
        #expect(
            RequestPasswordReset(tokenHash: hash("y"), policy: policy).decide(state, now: at(10_040)) == .accept([]))
    }

    @Test func requestsForUnknownOrDeletedUsersDecideNothing() throws {
        let request = RequestPasswordReset(tokenHash: hash("t"))
        #expect(request.decide(UserState(id: UUID()), now: at(1)) == .accept([]))
        let deleted = apply(SoftDelete(actor: .system), to: try registeredUser(), at: at(1)).state
        #expect(request.decide(deleted, now: at(2)) == .accept([]))
    }

    @Test func changingThePasswordNeedsTheCurrentOneAndEndsTheSession() throws {
        let (user, _) = try signedInUser()
        let me = Actor.user(user.id, .target)
        #expect(
            ChangePassword(actor: me, currentPasswordMatches: false, newPasswordHash: "n").decide(user, now: at(20))
                == .reject(
                    .invalidCredentials,
                    recording: [.loginFailed(.init(consecutiveFailures: user.failedLogins + 1, lockedUntil: nil))]))
        #expect(
            ChangePassword(actor: .user(UUID(), .admin), currentPasswordMatches: true, newPasswordHash: "n").decide(
                user, now: at(20)) == .reject(.forbidden))
        let (after, _) = apply(
            ChangePassword(actor: me, currentPasswordMatches: true, newPasswordHash: "n"), to: user, at: at(20))
        #expect(after.session == nil && after.tokensValidAfter == at(20))
    }

    /// The events that call for a notice are noted in the state while fewer than
    /// ``UserState/noticesMailedPerHour`` were in the hour before them (those are the notices
    /// mailed); a logout is not one, a new address starts again, and a steady stream of them
    /// is noted again each time the hour frees a place.
    @Test func noticesAreNotedUpToTheHourlyLimitUntilTheAddressChanges() throws {
        let user = try registeredUser()
        let session = UUID()
        var state = user.evolve(.passwordChanged(passwordHash: "a"), at: at(10))
        state = state.evolve(.passwordResetCompleted(passwordHash: "b"), at: at(20))
        state = state.evolve(.refreshTokenReuseDetected(sessionID: session), at: at(30))
        state = state.evolve(.loggedOut(sessionID: session), at: at(40))
        let moving = UserEvent.emailChangeRequested(
            .init(newEmail: "elsewhere@example.com", tokenHash: hash("x"), expiresAt: at(9_000)))
        state = state.evolve(moving, at: at(45))
        #expect(state.noticeTimes == [at(10), at(20), at(30), at(45)])
        #expect(state.evolve(.emailChanged(email: "two@example.com"), at: at(50)).noticeTimes.isEmpty)
        for second in 100..<110 {
            state = state.evolve(.passwordChanged(passwordHash: "c"), at: at(Int64(second)))
        }
        #expect(state.noticeTimes == [at(10), at(20), at(30), at(45), at(100)])
        // An hour after the first (one exactly an hour old no longer counts), a place is free.
        state = state.evolve(.passwordChanged(passwordHash: "d"), at: at(10 + 3_600))
        #expect(state.noticeTimes.last == at(10 + 3_600) && state.noticeTimes.count == 6)
        state = state.evolve(.passwordChanged(passwordHash: "d"), at: at(11 + 3_600))
        #expect(state.noticeTimes.count == 6)
        state = state.evolve(.passwordChanged(passwordHash: "d"), at: at(20 + 3_600))
        #expect(state.noticeTimes.last == at(20 + 3_600) && state.noticeTimes.count == 7)
        for hour in 2..<12 {
            for minute in 0..<6 {
                state = state.evolve(.passwordChanged(passwordHash: "e"), at: at(Int64(hour * 3_600 + minute * 60)))
            }
        }
        #expect(state.noticeTimes.count == UserState.requestTimesKept)
        #expect(state.noticeTimes.last == at(Int64(11 * 3_600 + 4 * 60)))
    }
}

@Suite(.ownThreads) struct EmailVerificationTests {
    @Test func theMailedTokenConfirmsTheAddressOnce() throws {
        let user = try registeredUser()
        let token = UserToken(userID: user.id, secret: secretA)
        let requested = apply(RequestEmailVerification(tokenHash: token.secretHash), to: user, at: at(5)).state
        let (verified, decision) = apply(ConfirmEmailVerification(presented: token), to: requested, at: at(6))
        #expect(decision.events == [.emailVerified])
        #expect(verified.emailVerifiedAt == at(6))
        #expect(ConfirmEmailVerification(presented: token).decide(verified, now: at(7)) == .reject(.invalidToken))
        #expect(RequestEmailVerification(tokenHash: hash("x")).decide(verified, now: at(8)) == .accept([]))
    }

    /// Verification mails asked for are limited from the account's own events, as reset mails
    /// are; the registration's own mail is not counted.
    @Test func requestsPastTheHourlyLimitOfTheAccountIssueNothing() throws {
        var state = try registeredUser()
        #expect(state.emailVerification != nil && state.verificationRequestTimes.isEmpty)
        for second in [10, 20, 30] {
            let (next, decision) = apply(
                RequestEmailVerification(tokenHash: hash("v\(second)")), to: state, at: at(Int64(second)))
            #expect(decision.events.count == 1)
            state = next
        }
        #expect(state.verificationRequestTimes == [at(10), at(20), at(30)])
        let fourth = RequestEmailVerification(tokenHash: hash("v4"))
        #expect(fourth.decide(state, now: at(40)) == .accept([]))
        #expect(fourth.decide(state, now: at(10 + 3_600)).events.count == 1)
        var policy = AuthPolicy()
        policy.verificationMailsPerHour = 4
        #expect(
            RequestEmailVerification(tokenHash: hash("v4"), policy: policy).decide(state, now: at(40)).events.count == 1
        )
    }
}
