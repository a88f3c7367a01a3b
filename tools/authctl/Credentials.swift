import ArgumentParser
import AuthDomain
import AuthService
import Foundation

struct CredentialsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credentials",
        abstract: "Add, list and revoke the service credentials an application's backend calls the API with.",
        discussion: """
            A credential is a bearer secret (alk_...) with scopes: users:read, users:write, \
            stripe:link, events:read (see docs/operations.md). Credentials live in \
            DATA/credentials/ (0700; one 0600 file each, holding the SHA-256 of the secret, \
            never the secret). A running authd sees an addition or a revocation at the next \
            request, without a restart. Each data directory has its own: a cluster node's are \
            its own too.

            Example:
              authctl --data ./data credentials add billing --scopes users:read,stripe:link
              authctl --data ./data credentials list
              authctl --data ./data credentials revoke 0b7c61e2-...
            """,
        subcommands: [Add.self, List.self, Revoke.self])

    @ParentCommand var root: Authctl

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a credential; prints its id and its secret (shown only this once).")
        @ParentCommand var credentials: CredentialsCommand
        @Argument(help: "A name for it: 1 to 64 letters, digits, '.', '_' or '-'.") var name: String
        @Option(help: "Scopes, comma-separated: users:read, users:write, stripe:link, events:read.")
        var scopes: String

        func run() throws {
            let granted: Set<CredentialScope>
            do {
                granted = try CredentialScope.parse(scopes)
            } catch {
                printError("authctl: \(error)")
                throw ExitCode(64)
            }
            try checkDataDirectory(credentials.root.data, readOnly: false)
            let (credential, secret) = try failing {
                try CredentialStore(dataDirectory: credentials.root.data).add(name: name, scopes: granted)
            }
            print("id: \(credential.id.uuidString.lowercased())")
            print("secret: \(secret)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List credentials: id, name, scopes, created, revoked (never a secret).")
        @ParentCommand var credentials: CredentialsCommand
        @Flag(help: "Print one JSON object per line.") var json = false

        func run() throws {
            let store = CredentialStore(dataDirectory: credentials.root.data)
            for credential in try failing({ try store.list() }) {
                let id = credential.id.uuidString.lowercased()
                let scopes = credential.scopes.sorted().map(\.rawValue)
                if json {
                    var object: [String: Any] = [
                        "id": id, "name": credential.name, "scopes": scopes, "created_at": credential.createdAt,
                    ]
                    object["revoked_at"] = credential.revokedAt ?? NSNull()
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    let status = credential.revokedAt.map { "revoked=\($0)" } ?? "active"
                    print(
                        "\(id) \(credential.name) scopes=\(scopes.joined(separator: ",")) "
                            + "created=\(credential.createdAt) \(status)")
                }
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a credential: a running authd refuses it from the next request on.")
        @ParentCommand var credentials: CredentialsCommand
        @Argument(help: "The credential's id.") var id: String

        func run() throws {
            try checkDataDirectory(credentials.root.data, readOnly: false)
            let credential = try failing { try CredentialStore(dataDirectory: credentials.root.data).revoke(id) }
            print("revoked \(credential.id.uuidString.lowercased()) at \(credential.revokedAt ?? "")")
        }
    }
}
