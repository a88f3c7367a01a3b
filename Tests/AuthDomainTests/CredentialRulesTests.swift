import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthDomain

/// What a service credential may do, by its scopes: the commands' and the read rules' answers.
@Suite(.ownThreads) struct CredentialRulesTests {
    func credential(_ scopes: Set<CredentialScope>) -> Actor { .credential(UUID(), scopes: scopes) }

    @Test func theLogRecordsACredentialByItsIdAndAnImportAcceptsIt() {
        let id = UUID()
        let actor = Actor.credential(id, scopes: [.usersRead])
        #expect(actor.description == "credential:" + id.uuidString.lowercased())
        #expect(Actor.isRecorded(actor.description))
        for recorded in ["system", "anonymous", id.uuidString.lowercased()] { #expect(Actor.isRecorded(recorded)) }
        for forged in ["credential:", "credential:nope", "credentials:" + id.uuidString, "root", ""] {
            #expect(!Actor.isRecorded(forged), "\(forged)")
        }
    }

    @Test func scopesParseFromAListAndAnUnknownOneIsRefused() throws {
        #expect(try CredentialScope.parse("users:read, stripe:link,users:read") == [.usersRead, .stripeLink])
        #expect(throws: CredentialScopeError.unknown("users:admin")) {
            try CredentialScope.parse("users:read,users:admin")
        }
        #expect(throws: CredentialScopeError.empty) { try CredentialScope.parse(" ") }
        #expect(throws: CredentialScopeError.unknown("")) { try CredentialScope.parse("users:read,") }
    }

    @Test func eachWriteNeedsItsScopeAndRoleChangesAndErasureNeedAnAdmin() throws {
        let user = try registeredUser()
        var changes = UserEvent.ProfileChanges()
        changes.firstName = "Alicia"
        let writes: [(CredentialScope, (Actor) -> any UserCommand)] = [
            (.usersWrite, { UpdateProfile(actor: $0, changes: changes) }),
            (.usersWrite, { SoftDelete(actor: $0) }),
            (.stripeLink, { LinkStripeCustomer(actor: $0, customerID: "cus_A") }),
        ]
        for (scope, command) in writes {
            let granted = apply(command(credential([scope])), to: user, at: at(5)).decision
            #expect(granted.rejection == nil && granted.events.count == 1, "\(scope)")
            let others = Set(CredentialScope.allCases).subtracting([scope])
            #expect(apply(command(credential(others)), to: user, at: at(5)).decision.rejection == .insufficientScope)
        }
        let deleted = apply(SoftDelete(actor: .system), to: user, at: at(5)).state
        #expect(apply(Restore(actor: credential([.usersWrite])), to: deleted, at: at(6)).decision.rejection == nil)
        #expect(
            apply(Restore(actor: credential([.usersRead])), to: deleted, at: at(6)).decision.rejection
                == .insufficientScope)
        let linked = apply(LinkStripeCustomer(actor: .system, customerID: "cus_A"), to: user, at: at(5)).state
        #expect(
            apply(UnlinkStripeCustomer(actor: credential([.stripeLink])), to: linked, at: at(6)).decision.events.count
                == 1)
        let everything = credential(Set(CredentialScope.allCases))
        #expect(
            apply(ChangeRole(actor: everything, role: .admin), to: user, at: at(5)).decision.rejection == .forbidden)
        #expect(apply(Erase(actor: everything), to: user, at: at(5)).decision.rejection == .forbidden)
        // A signed-in non-admin is still `forbidden`, not told about scopes.
        let target = Actor.user(UUID(), .target)
        #expect(apply(Restore(actor: target), to: deleted, at: at(6)).decision.rejection == .forbidden)
    }

    @Test func readsFollowScopesAndPersonalFieldsInTheFeedNeedUsersRead() throws {
        #expect(ReadRules.mayRead(scopes: [.usersRead]) && ReadRules.mayList(scopes: [.usersRead]))
        #expect(!ReadRules.mayRead(scopes: [.usersWrite, .stripeLink, .eventsRead]))
        #expect(!ReadRules.mayList(scopes: [.usersWrite, .stripeLink, .eventsRead]))
        #expect(ReadRules.feedAccess(scopes: [.eventsRead]) == .publicFields)
        #expect(ReadRules.feedAccess(scopes: [.eventsRead, .usersRead]) == .personalFields)
        #expect(ReadRules.feedAccess(scopes: [.usersRead, .usersWrite, .stripeLink]) == nil)
        let user = try registeredUser()
        let erased = apply(Erase(actor: .system), to: user, at: at(20)).state
        #expect(ReadRules.showsToCredential(user) && !ReadRules.showsToCredential(erased))
    }

    @Test func aSecretHasItsPrefixAndShape() {
        let secret = "alk_" + String(repeating: "A", count: 42) + "_"
        #expect(ServiceCredential.looksLikeSecret(secret))
        #expect(!ServiceCredential.looksLikeSecret(secret.dropLast()))
        #expect(!ServiceCredential.looksLikeSecret("alk_" + String(repeating: "A", count: 42) + "="))
        #expect(!ServiceCredential.looksLikeSecret("xlk_" + String(repeating: "A", count: 43)))
        #expect(ServiceCredential.validName("billing-webhook.v2") && !ServiceCredential.validName("has space"))
        #expect(!ServiceCredential.validName("") && !ServiceCredential.validName(String(repeating: "a", count: 65)))
    }
}
