import ArgumentParser
import AuthDomain
import AuthService
import Foundation

/// The user an id or email names, for a writing command: exit 2 with one line if none.
func existingUser(_ user: String, in service: AuthService) throws -> UUID {
    guard let id = try failing({ try UUID(uuidString: user) ?? service.userID(forEmail: user) }),
        try failing({ try service.load(id).exists })
    else {
        printError("authctl: no user \(user)")
        throw ExitCode(2)
    }
    return id
}

struct StripeLink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stripe-link",
        abstract: "Link a Stripe customer id to a user (actor: system).",
        discussion: """
            Appends StripeCustomerLinked and claims the id in the Stripe customer index in the \
            same transaction: an id linked to another user is refused (exit 2, \
            stripe_customer_taken). A previous id of the user is released. Safe while authd runs.

            Example:
              authctl --data ./data stripe-link alice@example.com cus_NffrFeUfNV2Hib
            """)

    @ParentCommand var root: Authctl
    @Argument(help: "The user: an id or an email address.") var user: String
    @Argument(help: "The Stripe customer id (cus_...).") var customer: String

    func run() async throws {
        let stack = try WriteStack(root: root)
        defer { stack.close() }
        let id = try existingUser(user, in: stack.service)
        do {
            try await stack.service.linkStripeCustomer(
                of: id, customerID: customer, actor: .system,
                correlationID: "authctl-stripe-link-\(UUID().uuidString.lowercased())")
        } catch let rejection as Rejection {
            printError("authctl: \(rejection.code): \(rejection)")
            throw ExitCode(2)
        } catch {
            printError("authctl: \(error)")
            throw ExitCode(2)
        }
        print("linked \(customer) to \(id.uuidString.lowercased())")
    }
}

struct StripeUnlink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stripe-unlink",
        abstract: "Remove a user's Stripe customer id (actor: system).",
        discussion: """
            Appends StripeCustomerUnlinked and releases the id's claim in the same transaction, \
            so another user may link it. A user with no id linked is left as they are.

            Example:
              authctl --data ./data stripe-unlink alice@example.com
            """)

    @ParentCommand var root: Authctl
    @Argument(help: "The user: an id or an email address.") var user: String

    func run() async throws {
        let stack = try WriteStack(root: root)
        defer { stack.close() }
        let id = try existingUser(user, in: stack.service)
        let before = try failing { try stack.service.load(id) }
        do {
            try await stack.service.unlinkStripeCustomer(
                of: id, actor: .system, correlationID: "authctl-stripe-unlink-\(UUID().uuidString.lowercased())")
        } catch let rejection as Rejection {
            printError("authctl: \(rejection.code): \(rejection)")
            throw ExitCode(2)
        } catch {
            printError("authctl: \(error)")
            throw ExitCode(2)
        }
        if let old = before.stripeCustomerID {
            print("unlinked \(old) from \(id.uuidString.lowercased())")
        } else {
            print("\(id.uuidString.lowercased()) had no Stripe customer id")
        }
    }
}
