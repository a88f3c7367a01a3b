import ArgumentParser
import AuthDomain
import AuthService
import Foundation
import Projections

struct CreateAdmin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-admin",
        abstract: "Bootstrap the first ADMIN. The password is read from a prompt, or from stdin when piped.",
        discussion: """
            Refused when an ADMIN exists already: further admins are made by an ADMIN through \
            the API. The password never appears as an argument. With --log-url, the ADMIN is \
            appended to the shared log, after checking a copy caught up just before.

            Example:
              authctl --data ./data create-admin --email admin@example.com
              printf '%s\\n' "$ADMIN_PASSWORD" | authctl --data ./data create-admin --email admin@example.com
            """)

    @ParentCommand var root: Authctl
    @Option(help: "The admin's email address.") var email: String
    @Option(help: "First name.") var firstName = "Admin"
    @Option(help: "Last name.") var lastName = "Istrator"

    func run() async throws {
        let password: String
        if isatty(STDIN_FILENO) == 1 {
            guard let typed = getpass("Password for \(email): ") else { throw ExitCode(2) }
            password = String(cString: typed)
        } else {
            password = readLine(strippingNewline: true) ?? ""
        }
        // On the shared log, the check reads a copy caught up just now; it is closed before the
        // shared log is opened for writing.
        if let url = root.logURL {
            let copy = try SharedCopy(root: root, url: url, needsKeys: false)
            defer { copy.close() }
            try refuseIfAdminExists(copy.projection)
        }
        let stack = try WriteStack(root: root)
        defer { stack.close() }
        if let projection = stack.projection { try refuseIfAdminExists(projection) }
        do {
            let user = try await stack.service.register(
                .init(email: email, password: password, firstName: firstName, lastName: lastName),
                correlationID: "authctl-create-admin")
            try await stack.service.changeRole(
                of: user.id, to: .admin, actor: .system, correlationID: "authctl-create-admin")
            print("created ADMIN \(user.id.uuidString.lowercased()) <\(user.email)>")
        } catch {
            printError("authctl: \(error)")
            throw ExitCode(2)
        }
    }

    /// Exit 2 with one line when the projection holds a live ADMIN.
    func refuseIfAdminExists(_ projection: UserProjection) throws {
        if try failing({ try projection.status().map { _ in try UserQueries(projection).count(role: .admin) } ?? 0 })
            > 0
        {
            printError("authctl: an ADMIN exists already; an ADMIN makes more through the API")
            throw ExitCode(2)
        }
    }
}
