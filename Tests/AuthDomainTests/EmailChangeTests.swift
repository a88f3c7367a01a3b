import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthDomain

@Suite(.ownThreads) struct EmailChangeTests {
    func request(_ user: UserState, to address: String, matches: Bool = true, by actor: Actor? = nil) throws
        -> RequestEmailChange
    {
        RequestEmailChange(
            actor: actor ?? .user(user.id, .target), currentPasswordMatches: matches,
            newEmail: try EmailAddress(address), tokenHash: UserToken(userID: user.id, secret: secretB).secretHash)
    }

    @Test func aRequestNeedsTheUserAndTheirPasswordAndAnotherAddress() throws {
        let user = try registeredUser()
        #expect(
            try request(user, to: "new@example.com", by: .user(UUID(), .admin)).decide(user, now: at(5))
                == .reject(.forbidden))
        #expect(
            try request(user, to: "new@example.com", matches: false).decide(user, now: at(5))
                == .reject(
                    .invalidCredentials, recording: [.loginFailed(.init(consecutiveFailures: 1, lockedUntil: nil))]))
        // The current address in another spelling is the same lookup key.
        let same = try request(user, to: "ALICE@example.COM").decide(user, now: at(5))
        #expect(same.rejection?.code == "invalid_field" && same.events.isEmpty)
        #expect(
            try request(UserState(id: UUID()), to: "x@example.com").decide(UserState(id: UUID()), now: at(5))
                .rejection == .notFound)
    }

    /// A request's notice is one of the account's: with the hour's notices used up it is
    /// refused, nothing recorded, until the oldest of them is an hour old.
    @Test func aRequestWaitsForTheHourToFreeANotice() throws {
        var user = try registeredUser()
        for second in Int64(10)..<15 {
            user = user.evolve(.refreshTokenReuseDetected(sessionID: UUID()), at: at(second))
        }
        #expect(user.noticeTimes.count == UserState.noticesMailedPerHour)
        let asked = try request(user, to: "new@example.com")
        #expect(asked.decide(user, now: at(20)) == .reject(.noticesUsedUp(retryAfter: 3_590)))
        #expect(asked.decide(user, now: at(10 + 3_599)) == .reject(.noticesUsedUp(retryAfter: 1)))
        let (later, decision) = apply(asked, to: user, at: at(10 + 3_600))
        #expect(decision.rejection == nil && decision.events.count == 1)
        #expect(later.noticeTimes.last == at(10 + 3_600))
        // A wrong password is still recorded first, whatever the notices.
        #expect(try request(user, to: "new@example.com", matches: false).decide(user, now: at(20)).events.count == 1)
    }

    @Test func theAddressMovesOnlyOnConfirmationAndIsThenVerified() throws {
        let user = try registeredUser()
        let (pending, decision) = apply(try request(user, to: " New@Example.com "), to: user, at: at(5))
        #expect(decision.rejection == nil && decision.events.count == 1)
        #expect(pending.email == "Alice@Example.com" && pending.emailVerifiedAt == nil)
        #expect(pending.emailChange?.newEmail == "New@Example.com")
        #expect(
            pending.emailChange?.token.expiresAt == at(5).adding(microseconds: AuthPolicy().emailChangeTokenLifetime))

        let wrong = ConfirmEmailChange(presented: UserToken(userID: user.id, secret: secretC))
        #expect(wrong.decide(pending, now: at(6)) == .reject(.invalidToken))
        let right = ConfirmEmailChange(presented: UserToken(userID: user.id, secret: secretB))
        let expired = pending.emailChange!.token.expiresAt
        #expect(right.decide(pending, now: expired) == .reject(.invalidToken))
        let (changed, _) = apply(right, to: pending, at: at(7))
        #expect(changed.email == "New@Example.com" && changed.emailVerifiedAt == at(7))
        #expect(changed.emailChange == nil && changed.emailVerification == nil)
        // Single use.
        #expect(right.decide(changed, now: at(8)) == .reject(.invalidToken))
    }

    @Test func aNewRequestReplacesThePendingOneAndErasureDropsIt() throws {
        let user = try registeredUser()
        let first = apply(try request(user, to: "one@example.com"), to: user, at: at(5)).state
        let replacing = RequestEmailChange(
            actor: .user(user.id, .target), currentPasswordMatches: true, newEmail: try EmailAddress("two@example.com"),
            tokenHash: UserToken(userID: user.id, secret: secretC).secretHash)
        let second = apply(replacing, to: first, at: at(6)).state
        let old = ConfirmEmailChange(presented: UserToken(userID: user.id, secret: secretB))
        #expect(old.decide(second, now: at(7)) == .reject(.invalidToken))
        #expect(second.emailChange?.newEmail == "two@example.com")
        let erased = apply(Erase(actor: .system), to: second, at: at(8)).state
        #expect(erased.emailChange == nil)
    }

    /// A new password, by reset or by change, cancels a pending email change; a change of
    /// password or of address ends a live reset token.
    @Test func aNewPasswordCancelsThePendingChangeAndTheAddressMoveEndsAReset() throws {
        let user = try registeredUser()
        let pending = apply(try request(user, to: "one@example.com"), to: user, at: at(5)).state
        let confirm = ConfirmEmailChange(presented: UserToken(userID: user.id, secret: secretB))
        for event: UserEvent in [.passwordResetCompleted(passwordHash: "new"), .passwordChanged(passwordHash: "new")] {
            let after = pending.evolve(event, at: at(6))
            #expect(after.emailChange == nil, "\(event)")
            #expect(confirm.decide(after, now: at(7)) == .reject(.invalidToken))
        }
        let reset = user.evolve(.passwordResetRequested(.init(tokenHash: hash("reset"), expiresAt: at(60))), at: at(5))
        #expect(reset.passwordReset != nil)
        for event: UserEvent in [.passwordChanged(passwordHash: "new"), .emailChanged(email: "two@example.com")] {
            let after = reset.evolve(event, at: at(6))
            #expect(after.passwordReset == nil, "\(event)")
        }
        // The mails sent to the old address do not count against the new one's hourly limits;
        // a new password leaves them counted (the address is the same).
        #expect(reset.resetRequestTimes == [at(5)])
        #expect(reset.evolve(.emailChanged(email: "two@example.com"), at: at(6)).resetRequestTimes.isEmpty)
        #expect(reset.evolve(.passwordChanged(passwordHash: "new"), at: at(6)).resetRequestTimes == [at(5)])
        let asked = user.evolve(.emailVerificationRequested(.init(tokenHash: hash("v"), expiresAt: at(60))), at: at(5))
        #expect(asked.verificationRequestTimes == [at(5)])
        #expect(asked.evolve(.emailChanged(email: "two@example.com"), at: at(6)).verificationRequestTimes.isEmpty)
    }
}
