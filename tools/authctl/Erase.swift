import ArgumentParser
import AuthDomain
import AuthService
import DataProtection
import EventLog
import EventLogLMDB
import Foundation
import PasswordHashing

struct Erase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Erase a user's personal data for good (crypto-shredding).",
        discussion: """
            Appends UserErased (actor: system), releases the user's email and Stripe id, \
            destroys the user's data key and deletes their waiting mail. The events stay, with \
            their type, time and actor; the hash chain still verifies. Safe while authd runs: \
            LMDB serialises the writers. With --log-url, the event goes to the shared log.

            Example:
              authctl --data ./data erase alice@example.com
              authctl --data ./data erase 0193f1c2-7d4e-7a10-9b1e-3c5d7e9f1a2b
              authctl --log-url postgres://authlog@db:5432/authlog erase alice@example.com
            """)

    @ParentCommand var root: Authctl
    @Argument(help: "The user: an id or an email address.") var user: String

    func run() async throws {
        let stack = try WriteStack(root: root)
        defer { stack.close() }
        let service = stack.service
        guard let id = try failing({ try UUID(uuidString: user) ?? service.userID(forEmail: user) }),
            try failing({ try service.load(id).exists })
        else {
            printError("authctl: no user \(user)")
            throw ExitCode(2)
        }
        // Erased before: erasing again destroys a key an interrupted erase left behind.
        let already = try failing { try service.load(id).isErased }
        let erased: UserState
        do {
            erased = try await service.erase(
                id, actor: .system, correlationID: "authctl-erase-\(UUID().uuidString.lowercased())")
        } catch {
            printError("authctl: \(error)")
            throw ExitCode(2)
        }
        if already {
            print("\(id.uuidString.lowercased()) was erased already; no key of theirs is left")
            return
        }
        print(
            "erased \(id.uuidString.lowercased()): \(erased.version) events keep their type, time and actor; the personal data is gone"
        )
    }
}
