import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthDomain

@Suite(.ownThreads) struct AdministrationTests {
    let admin = Actor.user(UUID(), .admin)
    let manager = Actor.user(UUID(), .manager)

    @Test func onlyAnAdminChangesRolesNeverTheirOwnAndTheSessionEnds() throws {
        let (user, _) = try signedInUser()
        #expect(ChangeRole(actor: manager, role: .admin).decide(user, now: at(20)) == .reject(.forbidden))
        #expect(
            ChangeRole(actor: .user(user.id, .target), role: .admin).decide(user, now: at(20)) == .reject(.forbidden))
        #expect(
            ChangeRole(actor: .user(user.id, .admin), role: .target).decide(user, now: at(20))
                == .reject(.cannotChangeOwnRole))
        #expect(ChangeRole(actor: admin, role: .target).decide(user, now: at(20)) == .accept([]))
        let (after, decision) = apply(ChangeRole(actor: admin, role: .manager), to: user, at: at(20))
        #expect(decision.events == [.roleChanged(from: .target, to: .manager)])
        #expect(after.role == .manager && after.session == nil && after.tokensValidAfter == at(20))
    }

    /// Anyone but the user and an ADMIN gets `forbidden` whether or not the id is a user's
    /// (they used to get `not_found` for an unknown id, which told which ids exist); an ADMIN
    /// gets `not_found`.
    @Test func othersCannotTellAnUnknownIdFromAnotherUsersOnUpdateOrDelete() throws {
        let user = try registeredUser()
        let unknown = UserState(id: UUID())
        for actor in [manager, Actor.user(UUID(), .target)] {
            for state in [user, unknown] {
                #expect(
                    UpdateProfile(actor: actor, changes: .init(firstName: "M")).decide(state, now: at(1))
                        == .reject(.forbidden))
                #expect(SoftDelete(actor: actor).decide(state, now: at(1)) == .reject(.forbidden))
            }
        }
        #expect(
            UpdateProfile(actor: admin, changes: .init(firstName: "M")).decide(unknown, now: at(1))
                == .reject(.notFound))
        #expect(SoftDelete(actor: admin).decide(unknown, now: at(1)) == .reject(.notFound))
    }

    @Test func profileUpdatesRecordOnlyWhatChanged() throws {
        let user = try registeredUser()
        let me = Actor.user(user.id, .target)
        let same = UpdateProfile(actor: me, changes: .init(firstName: "Alice", lastName: "Liddell"))
        #expect(same.decide(user, now: at(1)) == .accept([]))
        let change = UpdateProfile(
            actor: me, changes: .init(firstName: "Alicia", lastName: "Liddell", phone: .some("+44 1234")))
        let (after, decision) = apply(change, to: user, at: at(1))
        #expect(decision.events == [.profileUpdated(.init(firstName: "Alicia", phone: .some("+44 1234")))])
        #expect(after.firstName == "Alicia" && after.phone == "+44 1234")
        let cleared = apply(UpdateProfile(actor: admin, changes: .init(phone: .some(nil))), to: after, at: at(2)).state
        #expect(cleared.phone == nil)
        #expect(
            UpdateProfile(actor: manager, changes: .init(firstName: "X")).decide(user, now: at(3))
                == .reject(.forbidden))
    }

    @Test func softDeleteHidesRestoreBringsBack() throws {
        let (user, _) = try signedInUser()
        #expect(SoftDelete(actor: manager).decide(user, now: at(20)) == .reject(.forbidden))
        // The user themself gives their current password: without it, or wrong, it is a
        // failed login, recorded.
        let me = Actor.user(user.id, .target)
        for matches in [nil, false] as [Bool?] {
            let refused = SoftDelete(actor: me, currentPasswordMatches: matches).decide(user, now: at(20))
            #expect(refused.rejection == .invalidCredentials && refused.events.count == 1, "\(refused)")
            if case .loginFailed = refused.events.first {} else { Issue.record("not a failed login: \(refused)") }
        }
        let (deleted, _) = apply(SoftDelete(actor: me, currentPasswordMatches: true), to: user, at: at(20))
        #expect(deleted.deletedAt == at(20) && deleted.session == nil)
        #expect(SoftDelete(actor: admin).decide(deleted, now: at(21)) == .reject(.userDeleted))
        #expect(Restore(actor: .user(user.id, .target)).decide(deleted, now: at(22)) == .reject(.forbidden))
        let restored = apply(Restore(actor: admin), to: deleted, at: at(22)).state
        #expect(restored.deletedAt == nil)
        #expect(Restore(actor: admin).decide(restored, now: at(23)) == .reject(.notDeleted))
    }

    @Test func stripeLinksAreForAdminsAndTheSystem() throws {
        let user = try registeredUser()
        #expect(
            LinkStripeCustomer(actor: .user(user.id, .target), customerID: "cus_1").decide(user, now: at(1))
                == .reject(.forbidden))
        let linked = apply(LinkStripeCustomer(actor: .system, customerID: "cus_1"), to: user, at: at(1)).state
        #expect(linked.stripeCustomerID == "cus_1")
        #expect(throws: Rejection.self) { try LinkStripeCustomer.validate("has space") }
    }
}

@Suite(.ownThreads) struct EventCodecTests {
    static let events: [UserEvent] = [
        .registered(
            .init(email: "Ä@b.co", passwordHash: "$x", firstName: "A", lastName: "B", phone: "+1 234", role: .target)),
        .registered(
            .init(email: "a@b.co", passwordHash: "$x", firstName: "A", lastName: "B", phone: nil, role: .admin)),
        .emailVerificationRequested(.init(tokenHash: hash("v"), expiresAt: at(9))),
        .emailVerified,
        .loginSucceeded(.init(sessionID: UUID(), refreshTokenHash: hash("r"))),
        .loginFailed(.init(consecutiveFailures: 5, lockedUntil: at(60))),
        .loginFailed(.init(consecutiveFailures: 1, lockedUntil: nil)),
        .refreshTokenRotated(.init(sessionID: UUID(), refreshTokenHash: hash("n"))),
        .refreshTokenReuseDetected(sessionID: UUID()),
        .loggedOut(sessionID: UUID()),
        .passwordResetRequested(.init(tokenHash: hash("p"), expiresAt: at(1_800))),
        .passwordResetCompleted(passwordHash: "$h1"),
        .passwordChanged(passwordHash: "$h2"),
        .passwordRehashed(passwordHash: "$h3"),
        .profileUpdated(.init(firstName: "F", lastName: nil, phone: .some(nil))),
        .profileUpdated(.init(firstName: nil, lastName: "L", phone: .some("+1 555"))),
        .profileUpdated(.init(firstName: nil, lastName: nil, phone: nil)),
        .roleChanged(from: .target, to: .marketing),
        .stripeCustomerLinked(customerID: "cus_123"),
        .softDeleted,
        .restored,
        .erased,
    ]

    /// A stand-in for the shell's AES-GCM: reverses the bytes, so sealed is not plaintext.
    static func seal(_ bytes: [UInt8]) -> [UInt8] { [0xEE] + bytes.reversed() }
    static func open(_ sealed: UnsafeRawBufferPointer) -> [UInt8]? { Array(sealed.dropFirst().reversed()) }

    @Test(arguments: events)
    func everyEventRoundTripsThroughItsPayload(event: UserEvent) throws {
        let payload = event.payload(sealing: Self.seal)
        let decoded = try payload.withUnsafeBytes {
            try UserEvent(type: event.typeName, schemaVersion: event.schemaVersion, payload: $0, opening: Self.open)
        }
        #expect(decoded == event)
    }

    @Test(arguments: events.filter(\.hasPersonalData))
    func personalFieldsAreOnlyInTheSealedPartAndComeBackEmptyWithoutTheKey(event: UserEvent) throws {
        var sealedParts: [[UInt8]] = []
        let payload = event.payload { personal in
            sealedParts.append(personal)
            return [UInt8](repeating: 0, count: 3)
        }
        #expect(sealedParts.count == 1)
        let redacted = try payload.withUnsafeBytes {
            try UserEvent(type: event.typeName, schemaVersion: 1, payload: $0, opening: { _ in nil })
        }
        switch redacted {
        case .registered(let registered):
            #expect(
                registered.email.isEmpty && registered.passwordHash.isEmpty && registered.firstName.isEmpty
                    && registered.phone == nil)
        case .profileUpdated(let changes): #expect(changes.isEmpty)
        case .stripeCustomerLinked(let customer): #expect(customer.isEmpty)
        case .passwordChanged(let hash), .passwordRehashed(let hash), .passwordResetCompleted(let hash):
            #expect(hash.isEmpty)
        default: Issue.record("unexpected \(redacted)")
        }
    }

    @Test func unknownTypesVersionsAndTrailingBytesAreErrors() {
        let payload = UserEvent.emailVerified.payload(sealing: Self.seal) + [0]
        #expect(throws: BinaryDecodingError.self) {
            try payload.withUnsafeBytes {
                _ = try UserEvent(type: "EmailVerified", schemaVersion: 1, payload: $0, opening: Self.open)
            }
        }
        #expect(throws: BinaryDecodingError.self) {
            try [UInt8]().withUnsafeBytes {
                _ = try UserEvent(type: "Nope", schemaVersion: 1, payload: $0, opening: Self.open)
            }
        }
        #expect(throws: BinaryDecodingError.self) {
            try [UInt8]().withUnsafeBytes {
                _ = try UserEvent(type: "EmailVerified", schemaVersion: 9, payload: $0, opening: Self.open)
            }
        }
    }

    @Test func erasingEmptiesPersonalFieldsAndKeepsTheUserDeleted() throws {
        let (user, _) = try signedInUser()
        let (erased, decision) = apply(Erase(actor: .system), to: user, at: at(50))
        #expect(decision.events == [.erased])
        #expect(erased.isErased && erased.isDeleted && erased.email.isEmpty && erased.passwordHash.isEmpty)
        #expect(erased.session == nil && erased.tokensValidAfter == at(50))
        #expect(Erase(actor: .user(UUID(), .manager)).decide(user, now: at(51)) == .reject(.forbidden))
        #expect(Erase(actor: .user(user.id, .admin)).decide(user, now: at(51)) == .reject(.cannotEraseOwnAccount))
        #expect(Erase(actor: .user(UUID(), .admin)).decide(user, now: at(51)) == .accept([.erased]))
        #expect(Erase(actor: .system).decide(erased, now: at(51)) == .accept([]))
        #expect(Restore(actor: .system).decide(erased, now: at(51)) == .reject(.userErased))
    }
}
