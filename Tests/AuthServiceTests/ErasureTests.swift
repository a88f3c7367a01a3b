import AuthDomain
import AuthService
import DataProtection
import EventLog
import EventLogLMDB
import Foundation
import PasswordHashing
import TestSupport
import Testing

@Suite(.ownThreads) struct ErasureTests {
    struct Person {
        var email: String
        var firstName: String
        var lastName: String
        var phone: String
        var stripe: String
    }

    let people = [
        Person(
            email: "Zelda.Erasable@Example.org", firstName: "Zephyrine", lastName: "Quxworthy",
            phone: "+44 7700 900123", stripe: "cus_ErasableZelda42"),
        Person(
            email: "kept.one@example.net", firstName: "Keepsake", lastName: "Remainder", phone: "+1 202 555 0147",
            stripe: "cus_KeptOne0001"),
        Person(
            email: "kept.two@example.com", firstName: "Tenacia", lastName: "Stayput", phone: "+33 1 23 45 67 89",
            stripe: "cus_KeptTwo0002"),
    ]

    func everyFile(in directory: String) throws -> [(String, [UInt8])] {
        var files: [(String, [UInt8])] = []
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory)
            if !isDirectory.boolValue {
                files.append((path, [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + path)))))
            }
        }
        return files
    }

    @Test func afterErasureNoFileHoldsTheUsersPersonalDataOrKeyAndTheRestIsIntact() async throws {
        let harness = try Harness()
        var ids: [UUID] = []
        for person in people {
            let user = try await harness.service.register(
                .init(
                    email: person.email, password: "correct horse battery", firstName: person.firstName,
                    lastName: "Placeholder"),
                correlationID: "t")
            ids.append(user.id)
            _ = try await harness.service.updateProfile(
                of: user.id, firstName: nil, lastName: person.lastName, phone: person.phone, actor: .system,
                correlationID: "t")
            _ = try await harness.service.linkStripeCustomer(
                of: user.id, customerID: person.stripe, actor: .system, correlationID: "t")
            _ = try await harness.login(person.email)
            try await harness.service.requestPasswordReset(email: person.email, correlationID: "t")
        }
        let target = ids[0]
        let dataKey = try #require(try harness.keys.dataKey(for: target))
        let slot = try #require(try harness.keys.storedSlot(for: target))
        // Sealed, the data is already absent from the log; the Maildir (outbox) has the address.
        let erased = try await harness.service.erase(target, actor: .user(ids[1], .admin), correlationID: "erase-1")
        #expect(erased.isErased && erased.email.isEmpty)

        let person = people[0]
        let needles: [(String, [UInt8])] = [
            ("email", Array(person.email.utf8)), ("email lower-cased", Array(person.email.lowercased().utf8)),
            ("first name", Array(person.firstName.utf8)), ("last name", Array(person.lastName.utf8)),
            ("phone", Array(person.phone.utf8)), ("stripe id", Array(person.stripe.utf8)),
            ("data key", dataKey), ("wrapped data key", Array(slot[16..<76])),
        ]
        let files = try everyFile(in: harness.directory)
        #expect(files.contains { $0.0 == "data.mdb" } && files.contains { $0.0 == "keys" })
        for (path, bytes) in files {
            for (what, needle) in needles {
                #expect(!bytes.contains(slice: needle), "\(what) of the erased user found in \(path)")
            }
        }
        // The others are intact, and their data is where it was (sealed in the log, mail in the outbox).
        for (index, id) in ids.enumerated().dropFirst() {
            let state = try harness.service.load(id)
            #expect(state.email == people[index].email && state.firstName == people[index].firstName)
            #expect(state.lastName == people[index].lastName && state.phone == people[index].phone)
            #expect(state.stripeCustomerID == people[index].stripe)
            #expect(
                files.contains {
                    $0.0.hasPrefix("maildir/new/") && $0.1.contains(slice: Array(people[index].email.utf8))
                })
        }
        try harness.finish()
    }

    @Test func theAuditTrailAndTheChainSurviveAndTheEmailIsFreeAgain() async throws {
        let harness = try Harness()
        let admin = Actor.user(UUID(), .admin)
        let user = try await harness.register("erase.me@example.com")
        _ = try await harness.service.linkStripeCustomer(
            of: user.id, customerID: "cus_Recycled", actor: .system, correlationID: "t")
        let before = try harness.log.readStream(user.id, from: 1)
        try await harness.service.erase(user.id, actor: admin, correlationID: "erase-2")
        let after = try harness.log.readStream(user.id, from: 1)
        #expect(after.count == before.count + 1)
        #expect(Array(after.prefix(before.count)) == before)  // nothing rewritten
        #expect(after.last?.type == "UserErased" && after.last?.metadata.actor == admin.description)
        #expect(
            after.allSatisfy {
                !$0.type.isEmpty && $0.recordedAt.microsecondsSince1970 > 0 && !$0.metadata.actor.isEmpty
            })
        guard case .intact = try harness.log.verify() else {
            Issue.record("the chain does not verify after erasure")
            return
        }
        await #expect(throws: Rejection.invalidCredentials) { try await harness.login("erase.me@example.com") }
        await #expect(throws: Rejection.userErased) {
            try await harness.service.restore(user.id, actor: admin, correlationID: "t")
        }
        #expect(try await harness.service.erase(user.id, actor: admin, correlationID: "again").isErased)
        // The email and the Stripe id are free for someone else.
        let newcomer = try await harness.register("erase.me@example.com")
        _ = try await harness.service.linkStripeCustomer(
            of: newcomer.id, customerID: "cus_Recycled", actor: .system, correlationID: "t")
        // A fresh service on the same data (a restart) still sees the user erased.
        let restarted = try AuthService(
            log: harness.log, keys: try KeyStore(dataDirectory: harness.directory, environment: [:]),
            configuration: .init(passwordPolicy: try PasswordPolicy()), pool: harness.pool, mailer: harness.mailer)
        let reloaded = try restarted.load(user.id)
        #expect(
            reloaded.isErased && reloaded.email.isEmpty && reloaded.firstName.isEmpty && reloaded.passwordHash.isEmpty)
        #expect(try restarted.load(newcomer.id).email == "erase.me@example.com")
        try harness.finish()
    }

    @Test func authctlErasesByEmailBesideARunningServiceAndRefusesAWrongKey() async throws {
        let harness = try Harness()
        let user = try await harness.register("cli.erase@example.com")
        let other = try KeyEncryptionKey.generate().text
        let refused = try runProduct(
            "authctl", ["--data", harness.directory, "erase", "cli.erase@example.com"],
            environment: ["AUTHLOG_KEK": other])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("is not the one that wrapped the data keys"))
        #expect(refused.stderr.split(separator: "\n").count == 1)
        #expect(try !harness.service.load(user.id).isErased)

        let unknown = try runProduct("authctl", ["--data", harness.directory, "erase", "nobody@example.com"])
        #expect(unknown.status == 2 && unknown.stderr == "authctl: no user nobody@example.com\n")

        let done = try runProduct("authctl", ["--data", harness.directory, "erase", "CLI.Erase@example.com"])
        #expect(done.status == 0, "\(done.stderr)")
        #expect(done.stdout.contains("erased \(user.id.uuidString.lowercased())"))
        let state = try harness.service.load(user.id)
        #expect(state.isErased && state.email.isEmpty)
        #expect(try harness.log.readStream(user.id, from: 1).last?.metadata.actor == "system")
        try harness.finish()
    }

    @Test func readingAnErasedUserDestroysNothingAndErasingAgainDoes() async throws {
        let harness = try Harness()
        let user = try await harness.register("half.erased@example.com")
        // What a process killed between UserErased and the key's destruction leaves behind.
        _ = try await harness.log.append(
            [UserEvent.erased.newEvent(actor: .system, correlationID: "killed") { $0 }], to: user.id,
            expecting: .exactly(user.version))
        #expect(try harness.service.load(user.id).isErased)
        #expect(try harness.keys.dataKey(for: user.id) != nil, "a read destroyed the key")
        #expect(throws: Rejection.forbidden) {
            try harness.service.destroyDataKey(ofErased: try harness.service.load(UUID()))
        }
        let again = try await harness.service.erase(user.id, actor: .system, correlationID: "again")
        #expect(again.isErased && again.version == user.version + 1)
        #expect(try harness.keys.dataKey(for: user.id) == nil)
        try harness.finish()
    }

    @Test func onlyAnAdminOrTheSystemErases() async throws {
        let harness = try Harness()
        let user = try await harness.register()
        await #expect(throws: Rejection.forbidden) {
            try await harness.service.erase(user.id, actor: .user(user.id, .target), correlationID: "t")
        }
        await #expect(throws: Rejection.forbidden) {
            try await harness.service.erase(user.id, actor: .user(UUID(), .manager), correlationID: "t")
        }
        #expect(try harness.keys.dataKey(for: user.id) != nil)
        try harness.finish()
    }
}

extension Array where Element == UInt8 {
    func contains(slice: [UInt8]) -> Bool {
        guard !slice.isEmpty, slice.count <= count, let first = slice.first else { return false }
        var index = startIndex
        while let start = self[index...].firstIndex(of: first) {
            if start + slice.count > count { return false }
            if self[start..<start + slice.count].elementsEqual(slice) { return true }
            index = start + 1
        }
        return false
    }
}
