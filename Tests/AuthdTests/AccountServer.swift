import Foundation
import Testing

/// A real authd with one ADMIN (made by `authctl create-admin` before it starts), and the
/// calls the account tests make on it: register, log in, read the audit trail.
struct AccountServer {
    static let adminEmail = "root@example.com"
    static let adminPassword = "an admin passphrase"
    static let password = "correct horse battery"

    let server: RunningServer

    init(arguments: [String] = ["--registration-rate-limit", "1000", "--rate-limit", "1000"]) throws {
        server = try RunningServer(arguments: arguments) { data throws in
            let made = try runAuthctl(
                ["--data", data, "create-admin", "--email", Self.adminEmail], input: Self.adminPassword + "\n")
            #expect(made.status == 0, "\(made.stderr)")
        }
    }

    var data: String { server.data }

    /// Registers a TARGET with ``password``; returns the new id.
    func register(_ email: String) async throws -> String {
        let reply = try await server.call(
            "POST", "/v1/users", json: ["email": email, "password": Self.password, "first_name": "A", "last_name": "B"])
        #expect(reply.status == 201, "register \(email): \(reply.status)")
        return try #require(reply.json["id"] as? String)
    }

    /// The access token of a new session.
    func login(_ email: String, _ password: String = Self.password) async throws -> String {
        try await session(email, password).access
    }

    /// The access and refresh tokens of a new session.
    func session(_ email: String, _ password: String = Self.password) async throws -> (access: String, refresh: String)
    {
        let reply = try await server.call("POST", "/v1/sessions", json: ["email": email, "password": password])
        #expect(reply.status == 200, "login \(email): \(reply.status)")
        return (
            try #require(reply.json["access_token"] as? String), try #require(reply.json["refresh_token"] as? String)
        )
    }

    func adminToken() async throws -> String { try await login(Self.adminEmail, Self.adminPassword) }

    /// Registers `email`, has `admin` make them a MANAGER, and signs them in: their id and
    /// access token.
    func manager(_ email: String, admin: String) async throws -> (id: String, token: String) {
        let id = try await register(email)
        let promoted = try await server.call("PUT", "/v1/users/\(id)/role", json: ["role": "MANAGER"], token: admin)
        #expect(promoted.status == 200, "promote \(email): \(promoted.status)")
        return (id, try await login(email))
    }

    /// The user's audit trail as an ADMIN reads it: each event's type, actor and changes.
    func trail(_ id: String, admin: String) async throws -> [[String: Any]] {
        let reply = try await server.call("GET", "/v1/users/\(id)/events", token: admin)
        #expect(reply.status == 200)
        return reply.json["events"] as? [[String: Any]] ?? []
    }
}
