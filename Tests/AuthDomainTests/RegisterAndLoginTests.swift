import EventLog
import Foundation
import Testing

@testable import AuthDomain

@Suite struct RegisterTests {
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

@Suite struct LoginTests {
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

    @Test func fiveFailuresLockForAMinuteAndLocksDoubleUpToAnHour() throws {
        var user = try registeredUser()
        let wrong = Login(passwordMatches: false, sessionID: UUID(), refreshTokenHash: hash("x"))
        var time: Int64 = 100
        var locks: [Int64] = []
        for _ in 0..<45 {
            // Wait out any lock, then fail again.
            if let until = user.lockedUntil, at(time) < until { time = until.microsecondsSince1970 / 1_000_000 }
            let result = apply(wrong, to: user, at: at(time))
            #expect(result.decision.rejection == .invalidCredentials)
            if case .loginFailed(let failed) = result.decision.events.first, let until = failed.lockedUntil {
                locks.append(until.microsecondsSince1970 / 1_000_000 - time)
            }
            user = result.state
        }
        #expect(locks == [60, 120, 240, 480, 960, 1_920, 3_600, 3_600, 3_600])
    }

    @Test func aLockedAccountRefusesEvenTheRightPasswordWithoutAnEvent() throws {
        var user = try registeredUser()
        for second in 1...5 {
            user =
                apply(
                    Login(passwordMatches: false, sessionID: UUID(), refreshTokenHash: hash("x")), to: user,
                    at: at(Int64(second))
                ).state
        }
        let right = Login(passwordMatches: true, sessionID: UUID(), refreshTokenHash: hash("t"))
        #expect(right.decide(user, now: at(30)) == .reject(.invalidCredentials))
        #expect(right.decide(user, now: at(66)).rejection == nil)
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
