import AuthDomain
import AuthService
import EventLog
import Foundation
import PasswordHashing
import Synchronization
import TestSupport
import Testing

@Suite(.ownThreads) struct RegistrationServiceTests {
    @Test func aUserRegistersAsTargetAndGetsAVerificationMail() async throws {
        let harness = try Harness()
        let user = try await harness.register("  Alice@Example.com ")
        #expect(user.role == .target && user.email == "Alice@Example.com")
        #expect(try harness.eventTypes(of: user.id) == ["UserRegistered", "EmailVerificationRequested"])
        let token = try harness.mailedToken(subject: "Confirm your email")
        try await harness.service.confirmEmail(token: token, correlationID: "t")
        #expect(try harness.service.load(user.id).emailVerifiedAt != nil)
        await #expect(throws: Rejection.invalidToken) {
            try await harness.service.confirmEmail(token: token, correlationID: "t")
        }
        try harness.finish()
    }

    @Test func badInputIsRefusedWithTheReason() async throws {
        let harness = try Harness()
        await #expect(throws: Rejection.self) { try await harness.register("not-an-email") }
        await #expect(throws: Rejection.weakPassword("it must be at least 15 characters long (it has 5)")) {
            try await harness.register(password: "short")
        }
        await #expect(throws: Rejection.invalidField(field: "first_name", reason: "must not be empty")) {
            try await harness.service.register(
                .init(email: "a@b.co", password: "long enough password", firstName: " ", lastName: "x"),
                correlationID: "t")
        }
        #expect(try harness.log.headPosition() == 0)
        try harness.finish()
    }

    @Test func twoConcurrentRegistrationsOfOneEmailExactlyOneWins() async throws {
        let harness = try Harness()
        let outcomes = await withTaskGroup(of: Result<UserState, any Error>.self) { group in
            for index in 0..<6 {
                group.addTask {
                    do {
                        return .success(
                            try await harness.register(index % 2 == 0 ? "race@example.com" : "RACE@example.com "))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { (try? $0.get()) != nil }.count == 1)
        for case .failure(let error) in outcomes { #expect(error as? Rejection == .emailTaken) }
        try harness.finish()
    }
}

@Suite(.ownThreads) struct SessionServiceTests {
    /// Also with every command's first decision taken from a stale state (``FrozenUserStates``,
    /// a node's copy that stopped following): the same answers and the same events, since a
    /// decision from such a state stands only once its append succeeds.
    @Test(arguments: [false, true]) func loginRotateAndReuseDetection(stale: Bool) async throws {
        let frozen = Mutex<FrozenUserStates?>(nil)
        let harness = try Harness(
            states: stale
                ? { log, keys in
                    let states = FrozenUserStates(log: log, keys: keys)
                    frozen.withLock { $0 = states }
                    return states
                } : nil)
        let user = try await harness.register()
        let first = try await harness.login("ALICE@example.com")
        #expect(first.user.id == user.id && first.user.lastLoginAt != nil)
        let second = try await harness.service.rotate(refreshToken: first.refreshToken, correlationID: "t")
        harness.secret(second.refreshToken)
        // The tab that lost the race: within the grace window, no harm done.
        await #expect(throws: Rejection.tokenRotated) {
            try await harness.service.rotate(refreshToken: first.refreshToken, correlationID: "t")
        }
        let third = try await harness.service.rotate(refreshToken: second.refreshToken, correlationID: "t")
        harness.secret(third.refreshToken)
        harness.clock.advance(seconds: 11)
        await #expect(throws: Rejection.invalidToken) {
            try await harness.service.rotate(refreshToken: second.refreshToken, correlationID: "t")
        }
        // Reuse revoked the session: the newest token is dead too.
        await #expect(throws: Rejection.invalidToken) {
            try await harness.service.rotate(refreshToken: third.refreshToken, correlationID: "t")
        }
        #expect(
            try harness.eventTypes(of: user.id).suffix(4) == [
                "LoginSucceeded", "RefreshTokenRotated", "RefreshTokenRotated", "RefreshTokenReuseDetected",
            ])
        await #expect(throws: Rejection.invalidToken) {
            try await harness.service.rotate(refreshToken: "garbage", correlationID: "t")
        }
        if stale { #expect(try #require(frozen.withLock { $0 }).staleCount >= 4) }
        try harness.finish()
    }

    @Test func twoConcurrentRotationsOfOneTokenExactlyOneSucceeds() async throws {
        let harness = try Harness()
        _ = try await harness.register()
        let grant = try await harness.login()
        let outcomes = await withTaskGroup(of: Result<String, Rejection>.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    do {
                        return .success(
                            try await harness.service.rotate(refreshToken: grant.refreshToken, correlationID: "t")
                                .refreshToken)
                    } catch {
                        return .failure(error as! Rejection)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let winners = outcomes.compactMap { try? $0.get() }
        #expect(winners.count == 1)
        for case .failure(let rejection) in outcomes { #expect(rejection == .tokenRotated) }
        for winner in winners { harness.secret(winner) }
        try harness.finish()
    }

    @Test func wrongUnknownAndDeletedAllGetTheSameRejectionAndFailuresLockNothing() async throws {
        let harness = try Harness()
        let user = try await harness.register()
        await #expect(throws: Rejection.invalidCredentials) { try await harness.login(password: "wrong horse battery") }
        await #expect(throws: Rejection.invalidCredentials) { try await harness.login("nobody@example.com") }
        await #expect(throws: Rejection.invalidCredentials) { try await harness.login("not an email") }
        for _ in 0..<4 {
            await #expect(throws: Rejection.invalidCredentials) {
                try await harness.login(password: "wrong horse battery")
            }
        }
        // Five failures in a row lock nothing: the right password works at once.
        _ = try await harness.login()
        let types = try harness.eventTypes(of: user.id)
        #expect(types.filter { $0 == "LoginFailed" }.count == 5)
        _ = try await harness.service.softDelete(
            user.id, actor: .user(user.id, .target), currentPassword: "correct horse battery", correlationID: "t")
        await #expect(throws: Rejection.invalidCredentials) { try await harness.login() }
        // Unknown emails leave no trace in the log.
        #expect(try harness.log.read(from: 1, limit: .max).allSatisfy { $0.streamID == user.id })
        try harness.finish()
    }

    @Test func aWeakerStoredHashIsReplacedOnLogin() async throws {
        let harness = try Harness(hasher: ScryptHasher(logN: 10, blockSize: 8, parallelism: 1))
        let user = try await harness.register()
        #expect(try harness.service.load(user.id).passwordHash.hasPrefix("$scrypt$ln=10,"))
        // Same log, stronger policy: the next login rehashes.
        let stronger = try AuthService(
            log: harness.log, keys: harness.keys,
            configuration: .init(
                passwordPolicy: try PasswordPolicy(),
                hashing: PasswordHashing(current: Argon2idHasher(memoryKiB: 2_048, iterations: 1, parallelism: 1))),
            pool: harness.pool, mailer: harness.mailer)
        let grant = try await stronger.login(
            email: "alice@example.com", password: "correct horse battery", correlationID: "t")
        harness.secret(grant.refreshToken)
        #expect(try harness.eventTypes(of: user.id).suffix(2) == ["LoginSucceeded", "PasswordRehashed"])
        #expect(try harness.service.load(user.id).passwordHash.hasPrefix("$argon2id$v=19$m=2048,t=1,p=1$"))
        _ = try await stronger.login(email: "alice@example.com", password: "correct horse battery", correlationID: "t")
        #expect(try harness.eventTypes(of: user.id).last == "LoginSucceeded")
        try harness.finish()
    }

    /// Without random bytes the service does not start: the hash unknown users are checked
    /// against would be of an empty password (and no token could be made).
    @Test func aServiceWithoutRandomBytesDoesNotStart() async throws {
        let harness = try Harness()
        #expect(throws: PasswordHashError.failed("no random bytes available")) {
            try AuthService(
                log: harness.log, keys: harness.keys,
                configuration: .init(
                    passwordPolicy: try PasswordPolicy(),
                    hashing: PasswordHashing(current: Argon2idHasher(memoryKiB: 1_024, iterations: 1, parallelism: 1))),
                pool: harness.pool, mailer: harness.mailer, random: { _ in [] })
        }
        try harness.finish()
    }

    @Test func logoutEndsTheSession() async throws {
        let harness = try Harness()
        let user = try await harness.register()
        let grant = try await harness.login()
        try await harness.service.logout(
            userID: user.id, sessionID: grant.sessionID, actor: .user(user.id, .target), correlationID: "t")
        await #expect(throws: Rejection.invalidToken) {
            try await harness.service.rotate(refreshToken: grant.refreshToken, correlationID: "t")
        }
        try harness.finish()
    }
}

@Suite(.ownThreads) struct PasswordServiceTests {
    @Test func theResetTourEndsOldSessionsAndTheOldPassword() async throws {
        let harness = try Harness()
        let user = try await harness.register()
        let grant = try await harness.login()
        try await harness.service.requestPasswordReset(email: "alice@example.com", correlationID: "t")
        let token = try harness.mailedToken(subject: "Reset your password")
        await #expect(throws: Rejection.self) {
            try await harness.service.completePasswordReset(
                token: token, newPassword: harness.secret("short"), correlationID: "t")
        }
        try await harness.service.completePasswordReset(
            token: token, newPassword: harness.secret("a brand new passphrase"), correlationID: "t")
        await #expect(throws: Rejection.invalidToken) {
            try await harness.service.rotate(refreshToken: grant.refreshToken, correlationID: "t")
        }
        await #expect(throws: Rejection.invalidToken) {
            try await harness.service.completePasswordReset(
                token: token, newPassword: "another new passphrase", correlationID: "t")
        }
        await #expect(throws: Rejection.invalidCredentials) { try await harness.login() }
        _ = try await harness.login(password: "a brand new passphrase")
        #expect(try harness.service.load(user.id).tokensValidAfter != nil)
        try harness.finish()
    }

    @Test func resetRequestsLookTheSameForUnknownAddresses() async throws {
        let harness = try Harness()
        _ = try await harness.register()
        let before = try harness.mailer.waitingMessages().count
        try await harness.service.requestPasswordReset(email: "nobody@example.com", correlationID: "t")
        try await harness.service.requestPasswordReset(email: "not an email", correlationID: "t")
        #expect(try harness.mailer.waitingMessages().count == before)
        try await harness.service.requestPasswordReset(email: "alice@example.com", correlationID: "t")
        #expect(try harness.mailer.waitingMessages().count == before + 1)
        _ = try harness.mailedToken(subject: "Reset your password")
        try harness.finish()
    }

    @Test func aResetTokenExpiresAfterThirtyMinutes() async throws {
        let harness = try Harness()
        _ = try await harness.register()
        try await harness.service.requestPasswordReset(email: "alice@example.com", correlationID: "t")
        let token = try harness.mailedToken(subject: "Reset your password")
        harness.clock.advance(seconds: 30 * 60)
        await #expect(throws: Rejection.invalidToken) {
            try await harness.service.completePasswordReset(
                token: token, newPassword: "a brand new passphrase", correlationID: "t")
        }
        try harness.finish()
    }

    @Test func changingThePasswordNeedsTheCurrentOne() async throws {
        let harness = try Harness()
        let user = try await harness.register()
        let me = Actor.user(user.id, .target)
        await #expect(throws: Rejection.invalidCredentials) {
            try await harness.service.changePassword(
                userID: user.id, actor: me, currentPassword: "wrong horse battery",
                newPassword: harness.secret("new and long passphrase"), correlationID: "t")
        }
        try await harness.service.changePassword(
            userID: user.id, actor: me, currentPassword: "correct horse battery",
            newPassword: "new and long passphrase", correlationID: "t")
        _ = try await harness.login(password: "new and long passphrase")
        try harness.finish()
    }
}

@Suite(.ownThreads) struct AdministrationServiceTests {
    @Test func rolesProfilesDeletionAndStripeLinks() async throws {
        let harness = try Harness()
        let admin = try await harness.register("admin@example.com")
        let user = try await harness.register("bob@example.com")
        let adminActor = Actor.user(admin.id, .admin)
        let managerActor = Actor.user(UUID(), .manager)
        await #expect(throws: Rejection.forbidden) {
            try await harness.service.changeRole(of: user.id, to: .admin, actor: managerActor, correlationID: "t")
        }
        await #expect(throws: Rejection.cannotChangeOwnRole) {
            try await harness.service.changeRole(of: admin.id, to: .target, actor: adminActor, correlationID: "t")
        }
        let grant = try await harness.login("bob@example.com")
        #expect(
            try await harness.service.changeRole(of: user.id, to: .manager, actor: adminActor, correlationID: "t").role
                == .manager)
        await #expect(throws: Rejection.invalidToken) {
            try await harness.service.rotate(refreshToken: grant.refreshToken, correlationID: "t")
        }

        let updated = try await harness.service.updateProfile(
            of: user.id, firstName: "Robert", lastName: nil, phone: "+44 20 7946 0000", actor: .user(user.id, .manager),
            correlationID: "t")
        #expect(updated.firstName == "Robert" && updated.lastName == "Liddell" && updated.phone == "+44 20 7946 0000")
        await #expect(throws: Rejection.self) {
            try await harness.service.updateProfile(
                of: user.id, firstName: nil, lastName: nil, phone: "call me", actor: adminActor, correlationID: "t")
        }

        _ = try await harness.service.linkStripeCustomer(
            of: user.id, customerID: "cus_A", actor: .system, correlationID: "t")
        await #expect(throws: Rejection.stripeCustomerTaken) {
            try await harness.service.linkStripeCustomer(
                of: admin.id, customerID: "cus_A", actor: .system, correlationID: "t")
        }
        _ = try await harness.service.linkStripeCustomer(
            of: user.id, customerID: "cus_B", actor: .system, correlationID: "t")
        _ = try await harness.service.linkStripeCustomer(
            of: admin.id, customerID: "cus_A", actor: adminActor, correlationID: "t")

        // A verified address stays reserved through a soft-delete (an unverified one is
        // released: SelfDeleteTests).
        try await harness.service.confirmEmail(
            token: try harness.mailedToken(subject: "Confirm your email"), correlationID: "t")
        _ = try await harness.service.softDelete(user.id, actor: adminActor, correlationID: "t")
        await #expect(throws: Rejection.emailTaken) { try await harness.register("bob@example.com") }
        await #expect(throws: Rejection.invalidCredentials) { try await harness.login("bob@example.com") }
        _ = try await harness.service.restore(user.id, actor: adminActor, correlationID: "t")
        _ = try await harness.login("bob@example.com")
        let actors = try harness.log.readStream(user.id, from: 1).map(\.metadata.actor)
        #expect(
            actors.first == "anonymous" && actors.contains(admin.id.uuidString.lowercased())
                && actors.contains("system"))
        try harness.finish()
    }
}
