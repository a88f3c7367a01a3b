import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthDomain

@Suite(.ownThreads) struct ReadRulesTests {
    let me = UUID()
    let other = UUID()

    @Test func aUserReadsThemselvesAndOnlyAdminsAndManagersReadOthers() {
        for role in Role.allCases {
            #expect(ReadRules.mayRead(me, reader: me, role: role))
            #expect(ReadRules.mayRead(other, reader: me, role: role) == (role == .admin || role == .manager))
        }
    }

    @Test func onlyAnAdminReadsThePastAndTheAuditTrail() {
        for role in Role.allCases {
            #expect(ReadRules.mayReadPast(role: role) == (role == .admin))
            #expect(ReadRules.mayReadAuditTrail(role: role) == (role == .admin))
        }
    }

    @Test func onlyAdminsAndManagersListUsers() {
        #expect(
            Role.allCases.filter { ReadRules.mayList(role: $0) }.sorted { $0.rawValue < $1.rawValue } == [
                .admin, .manager,
            ])
    }

    @Test func anErasedUserIsShownToAnAdminOnly() throws {
        let user = try registeredUser()
        let erased = apply(Erase(actor: .system), to: user, at: at(20)).state
        #expect(erased.isErased)
        for role in Role.allCases {
            #expect(ReadRules.shows(user, to: role))
            #expect(ReadRules.shows(erased, to: role) == (role == .admin))
        }
    }
}

@Suite(.ownThreads) struct AccessTokenAcceptanceTests {
    @Test func theCurrentSessionsTokenIsAccepted() throws {
        let (user, token) = try signedInUser()
        #expect(user.acceptsAccessToken(session: token.sessionID, issuedAt: 10))
        #expect(!user.acceptsAccessToken(session: UUID(), issuedAt: 10), "another session's token")
        #expect(!UserState(id: user.id).acceptsAccessToken(session: token.sessionID, issuedAt: 10), "no such user")
    }

    @Test func aLogoutAnotherLoginASoftDeleteOrAnEraseEndsIt() throws {
        let (user, token) = try signedInUser()
        let again = Login(passwordMatches: true, sessionID: UUID(), refreshTokenHash: hash("second"))
        let ended = [
            apply(Logout(sessionID: token.sessionID), to: user, at: at(20)).state,
            apply(again, to: user, at: at(20)).state,
            apply(SoftDelete(actor: .system), to: user, at: at(20)).state,
            apply(Erase(actor: .system), to: user, at: at(20)).state,
        ]
        for state in ended {
            #expect(state.version > user.version)
            #expect(!state.acceptsAccessToken(session: token.sessionID, issuedAt: 30))
        }
    }

    @Test func tokensIssuedBeforeTokensValidAfterAreRefusedToTheSecond() throws {
        var (user, token) = try signedInUser()
        user.tokensValidAfter = Timestamp(microsecondsSince1970: 100_500_000)  // 100.5 s
        #expect(!user.acceptsAccessToken(session: token.sessionID, issuedAt: 99))
        // Tokens carry whole seconds: one issued in the same second is still accepted.
        #expect(user.acceptsAccessToken(session: token.sessionID, issuedAt: 100))
        #expect(user.acceptsAccessToken(session: token.sessionID, issuedAt: 101))
    }
}
