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
            the API. The password never appears as an argument.

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
        let stack = try WriteStack(directory: root.data)
        defer { stack.close() }
        if try failing({
            try stack.projection.status().map { _ in try UserQueries(stack.projection).count(role: .admin) } ?? 0
        }) > 0 {
            printError("authctl: an ADMIN exists already; an ADMIN makes more through the API")
            throw ExitCode(2)
        }
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
}
