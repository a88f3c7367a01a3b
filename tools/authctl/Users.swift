import ArgumentParser
import AuthDomain
import Foundation
import Projections

struct Users: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read users from the projected User table.",
        subcommands: [Get.self, List.self])

    @ParentCommand var root: Authctl

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one user, by id, email or Stripe customer id.",
            discussion: """
                Example:
                  authctl --data ./data users get alice@example.com --json
                  authctl --data ./data users get --stripe-customer cus_NffrFeUfNV2Hib
                """)

        @ParentCommand var users: Users
        @Argument(help: "An id or an email address.") var user: String?
        @Option(help: "The Stripe customer id linked to the user, instead of an id or email.")
        var stripeCustomer: String?
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            guard (user == nil) != (stripeCustomer == nil) else {
                throw ValidationError("give a user (id or email) or --stripe-customer, not both")
            }
        }

        func run() throws {
            let stack = try ReadStack(root: users.root)
            defer { stack.close() }
            let found: UserState?
            if let stripeCustomer {
                found = try failing { try stack.queries.user(stripeCustomerID: stripeCustomer) }
            } else {
                let id = try stack.resolve(user ?? "")
                found = try failing { try stack.queries.user(id: id) }
            }
            guard let found else {
                printError("authctl: no user \(user ?? "with Stripe customer " + (stripeCustomer ?? ""))")
                throw ExitCode(2)
            }
            if json { print(try jsonLine(userFields(found))) } else { printFields(userFields(found)) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List users holding a role, a page at a time, in registration order.",
            discussion: """
                Live users first; soft-deleted ones only with --include-deleted. When more remain,
                the cursor for the next page is printed (on stderr, or as a last JSON line).

                Example:
                  authctl --data ./data users list --role ADMIN --limit 20
                """)

        @Option(help: "TARGET, MANAGER, ADMIN or MARKETING.") var role: String
        @Flag(help: "Include soft-deleted users.") var includeDeleted = false
        @Option(help: "Users per page (1 to 1000).") var limit = 50
        @Option(help: "The cursor a previous page printed.") var cursor: String?
        @Flag(help: "One JSON object a line.") var json = false
        @ParentCommand var users: Users

        func run() throws {
            guard let role = Role(rawValue: role.uppercased()) else {
                printError("authctl: unknown role \(self.role) (TARGET, MANAGER, ADMIN, MARKETING)")
                throw ExitCode(64)
            }
            let stack = try ReadStack(root: users.root)
            defer { stack.close() }
            let page = try failing {
                try stack.queries.users(role: role, includeDeleted: includeDeleted, limit: limit, after: cursor)
            }
            for user in page.users {
                if json {
                    print(try jsonLine(userFields(user)))
                } else {
                    let deleted = user.isDeleted ? "  (deleted)" : ""
                    print(
                        "\(user.id.uuidString.lowercased())  \(user.email)  \(user.firstName) \(user.lastName)\(deleted)"
                    )
                }
            }
            if let next = page.nextCursor {
                if json { print(try jsonLine([("next_cursor", next)])) } else { printError("next cursor: \(next)") }
            }
        }
    }
}
