import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthDomain

@Suite(.ownThreads) struct RegisterTests {
    @Test func registrationCreatesATargetUserAndAVerificationToken() throws {
        let user = try registeredUser()
        #expect(user.version == 2)
        #expect(user.role == .target)
        #expect(user.email == "Alice@Example.com")
        #expect(user.emailVerification?.hash == hash("verify"))
        #expect(user.createdAt == at(0))
    }

    @Test func registeringAnExistingStreamIsRefused() throws {
        let user = try registeredUser()
        let again = Register(
            email: try EmailAddress("a@b.co"), passwordHash: "x", firstName: "A", lastName: "B", phone: nil,
            verificationTokenHash: hash("v"))
        #expect(again.decide(user, now: at(1)) == .reject(.emailTaken))
    }
}

@Suite(.ownThreads) struct LoginTests {
    @Test func aRightPasswordStartsTheSessionAndClearsFailures() throws {
        var user = try registeredUser()
        user =
            apply(Login(passwordMatches: false, sessionID: UUID(), refreshTokenHash: hash("x")), to: user, at: at(5))
            .state
        #expect(user.failedLogins == 1)
        let session = UUID()
        let (after, decision) = apply(
            Login(passwordMatches: true, sessionID: session, refreshTokenHash: hash("t")), to: user, at: at(6))
        #expect(decision.rejection == nil)
        #expect(after.session?.id == session && after.refreshTokenHash == hash("t"))
        #expect(after.lastLoginAt == at(6) && after.failedLogins == 0)
    }

    @Test func unknownAndDeletedUsersGetTheGenericRejectionAndNoEvent() throws {
        let login = Login(passwordMatches: true, sessionID: UUID(), refreshTokenHash: hash("t"))
        #expect(login.decide(UserState(id: UUID()), now: at(1)) == .reject(.invalidCredentials))
        let deleted = apply(SoftDelete(actor: .system), to: try registeredUser(), at: at(2)).state
        #expect(login.decide(deleted, now: at(3)) == .reject(.invalidCredentials))
    }

    @Test func fiftyFailuresAreRecordedButNeverLockTheAccount() throws {
        var user = try registeredUser()
        let wrong = Login(passwordMatches: false, sessionID: UUID(), refreshTokenHash: hash("x"))
        for second in 1...50 {
            let result = apply(wrong, to: user, at: at(Int64(second)))
            #expect(result.decision.rejection == .invalidCredentials)
            #expect(
                result.decision.events == [
                    .loginFailed(.init(consecutiveFailures: UInt32(second), lockedUntil: nil))
                ])
            user = result.state
        }
        #expect(user.failedLogins == 50 && user.lockedUntil == nil)
        let right = Login(passwordMatches: true, sessionID: UUID(), refreshTokenHash: hash("t"))
        #expect(right.decide(user, now: at(51)).rejection == nil)
    }

    @Test func aLockRecordedByAnOlderReleaseStillFoldsButLocksNothing() throws {
        // What the release that locked accounts recorded at the fifth failure in a row.
        let old = try registeredUser().evolve(
            .loginFailed(.init(consecutiveFailures: 5, lockedUntil: at(3_600))), at: at(5))
        #expect(old.lockedUntil == at(3_600) && old.failedLogins == 5)
        let right = Login(passwordMatches: true, sessionID: UUID(), refreshTokenHash: hash("t"))
        let (after, decision) = apply(right, to: old, at: at(6))
        #expect(decision.rejection == nil)
        #expect(after.lockedUntil == nil && after.failedLogins == 0)
        let wrong = Login(passwordMatches: false, sessionID: UUID(), refreshTokenHash: hash("x"))
        #expect(wrong.decide(old, now: at(6)).events == [.loginFailed(.init(consecutiveFailures: 6, lockedUntil: nil))])
    }

    @Test func theFailureCountStopsAtItsLargestValue() throws {
        var user = try registeredUser()
        user.failedLogins = .max
        let wrong = Login(passwordMatches: false, sessionID: UUID(), refreshTokenHash: hash("x"))
        #expect(
            wrong.decide(user, now: at(1)).events == [.loginFailed(.init(consecutiveFailures: .max, lockedUntil: nil))])
    }

    @Test func aPasswordBelowPolicyIsRehashedOnSuccess() throws {
        let user = try registeredUser()
        let decision = Login(
            passwordMatches: true, rehashedPassword: "$argon2id$new", sessionID: UUID(), refreshTokenHash: hash("t")
        ).decide(user, now: at(1))
        #expect(decision.events.count == 2)
        #expect(decision.events.last == .passwordRehashed(passwordHash: "$argon2id$new"))
    }
}
