import Foundation
import TestSupport
import Testing

/// Every route that takes a bearer token, called by every kind of caller against a real
/// authd; each answer's status, and for a refusal its problem type, is asserted exactly.
///
/// Callers: no token; a TARGET, a MANAGER and an ADMIN, each with a live session; an ADMIN's
/// token after that ADMIN logged out (revoked); an ADMIN's token past its `exp` (expired,
/// from an authd with `--access-token-ttl 1`). The revoked and expired tokens are an ADMIN's
/// so that a check missing anywhere would show as a success, never hide behind a 403.
@Suite(.ownThreads) struct AuthorizationMatrixTests {
    static let password = "correct horse battery"

    enum Caller: String, CaseIterable {
        case none, revoked, expired, target, manager, admin
    }

    /// One route, and what each caller with a live token gets (the others always get 401).
    struct Route {
        var name: String
        var method: String
        var path: String
        var body: [String: Any]?
        var target: Int
        var manager: Int
        var admin: Int
    }

    @Test func everyBearerRouteAnswersEveryCallerExactly() async throws {
        let server = try RunningServer(arguments: ["--registration-rate-limit", "1000", "--rate-limit", "1000"]) {
            data throws in
            #expect(
                try authctl(
                    ["--data", data, "create-admin", "--email", "root@example.com"], input: "an admin passphrase\n")
                    == 0)
        }
        let admin = try await login(server, "root@example.com", "an admin passphrase")
        _ = try await register(server, "target@example.com")
        let managerID = try await register(server, "manager@example.com")
        let revokedID = try await register(server, "revoked@example.com")
        for (id, role) in [(managerID, "MANAGER"), (revokedID, "ADMIN")] {
            let changed = try await server.call("PUT", "/v1/users/\(id)/role", json: ["role": role], token: admin)
            #expect(changed.status == 200, "promote to \(role): \(changed.status)")
        }
        let target = try await login(server, "target@example.com", Self.password)
        let manager = try await login(server, "manager@example.com", Self.password)
        let revoked = try await login(server, "revoked@example.com", Self.password)
        #expect(try await server.call("GET", "/v1/users/me", token: revoked).status == 200)
        #expect(try await server.call("DELETE", "/v1/sessions/current", token: revoked).status == 204)
        let expired = try await expiredAdminToken()

        // The users the routes act on: one per route that changes its user.
        let seen = try await register(server, "seen@example.com")
        let patched = try await register(server, "patched@example.com")
        let promoted = try await register(server, "promoted@example.com")
        let deleted = try await register(server, "deleted@example.com")
        let restored = try await register(server, "restored@example.com")
        let erased = try await register(server, "erased@example.com")
        #expect(try await server.call("DELETE", "/v1/users/\(restored)", token: admin).status == 204)
        // A position at which `seen` exists: her registration's (position 1 is the admin's).
        let trail = try await server.call("GET", "/v1/users/\(seen)/events", token: admin)
        let registeredAt = try #require((trail.json["events"] as? [[String: Any]])?.first?["position"] as? Int)
        #expect(registeredAt > 1)

        let routes: [Route] = [
            Route(
                name: "list", method: "GET", path: "/v1/users?role=TARGET", target: 403, manager: 200, admin: 200),
            Route(name: "me", method: "GET", path: "/v1/users/me", target: 200, manager: 200, admin: 200),
            Route(name: "read", method: "GET", path: "/v1/users/\(seen)", target: 403, manager: 200, admin: 200),
            Route(
                name: "read as of", method: "GET", path: "/v1/users/\(seen)?as_of=\(registeredAt)", target: 403,
                manager: 403, admin: 200),
            Route(
                name: "events", method: "GET", path: "/v1/users/\(seen)/events", target: 403, manager: 403, admin: 200),
            Route(
                name: "patch", method: "PATCH", path: "/v1/users/\(patched)", body: ["first_name": "Pat"], target: 403,
                manager: 403, admin: 200),
            Route(
                name: "role", method: "PUT", path: "/v1/users/\(promoted)/role", body: ["role": "MANAGER"],
                target: 403, manager: 403, admin: 200),
            Route(
                name: "delete", method: "DELETE", path: "/v1/users/\(deleted)", target: 403, manager: 403, admin: 204),
            Route(
                name: "restore", method: "POST", path: "/v1/users/\(restored)/restore", target: 403, manager: 403,
                admin: 200),
            Route(
                name: "erase", method: "POST", path: "/v1/users/\(erased)/erase", target: 403, manager: 403, admin: 204),
            // Last: it ends each caller's session.
            Route(
                name: "logout", method: "DELETE", path: "/v1/sessions/current", target: 204, manager: 204, admin: 204),
        ]
        // An unknown id: whoever may not act on another user is refused the same way, so the
        // answer never says which ids are users; an ADMIN learns it is unknown.
        let unknown = UUID().uuidString.lowercased()
        for (method, body) in [("PATCH", ["first_name": "Pat"]), ("DELETE", nil)] as [(String, [String: Any]?)] {
            for (caller, token, expected) in [
                ("target", target, 403), ("manager", manager, 403), ("admin", admin, 404),
            ] {
                let reply = try await server.call(method, "/v1/users/\(unknown)", json: body, token: token)
                #expect(reply.status == expected, "\(method) of an unknown id by \(caller): \(reply.status)")
            }
        }

        var answered = 0
        for route in routes {
            for caller in Caller.allCases {
                let (on, token, expected): (RunningServer, String?, Int) =
                    switch caller {
                    case .none: (server, nil, 401)
                    case .revoked: (server, revoked, 401)
                    case .expired: (expired.server, expired.token, 401)
                    case .target: (server, target, route.target)
                    case .manager: (server, manager, route.manager)
                    case .admin: (server, admin, route.admin)
                    }
                let reply = try await on.call(route.method, route.path, json: route.body, token: token)
                let what = "\(route.name) by \(caller): \(reply.status) \(String(decoding: reply.body, as: UTF8.self))"
                #expect(reply.status == expected, "\(what)")
                if expected >= 400 {
                    let code = expected == 401 ? "unauthorized" : "forbidden"
                    #expect(reply.headers["content-type"] == "application/problem+json", "\(what)")
                    #expect(reply.json["type"] as? String == "https://authlog.dev/problems/\(code)", "\(what)")
                    #expect(reply.json["status"] as? Int == expected && reply.code == code, "\(what)")
                }
                answered += 1
            }
        }
        #expect(answered == routes.count * Caller.allCases.count)

        // What the successes did: read as of her registration, `seen` is as she registered.
        let fresh = try await login(server, "root@example.com", "an admin passphrase")
        let asOf = try await server.call("GET", "/v1/users/\(seen)?as_of=\(registeredAt)", token: fresh)
        #expect(asOf.status == 200 && asOf.json["email"] as? String == "seen@example.com")
        #expect(asOf.json["id"] as? String == seen)
        let before = try await server.call("GET", "/v1/users/\(seen)?as_of=\(registeredAt - 1)", token: fresh)
        #expect(before.status == 404 && before.code == "not_found")
        let role = try await server.call("GET", "/v1/users/\(promoted)", token: fresh)
        #expect(role.json["role"] as? String == "MANAGER")
        let name = try await server.call("GET", "/v1/users/\(patched)", token: fresh)
        #expect(name.json["first_name"] as? String == "Pat")
        let gone = try await server.call("GET", "/v1/users/\(deleted)", token: fresh)
        #expect(gone.json["deleted_at"] is String)
        let back = try await server.call("GET", "/v1/users/\(restored)", token: fresh)
        #expect(back.status == 200 && back.json["deleted_at"] is NSNull)
    }

    /// An ADMIN's access token from an authd whose tokens live 1 s, once the clock is past its
    /// `exp` (a bounded poll on the clock, never a fixed sleep).
    func expiredAdminToken() async throws -> (server: RunningServer, token: String) {
        let server = try RunningServer(arguments: ["--access-token-ttl", "1"]) { data throws in
            #expect(
                try authctl(
                    ["--data", data, "create-admin", "--email", "root@example.com"], input: "an admin passphrase\n")
                    == 0)
        }
        let token = try await login(server, "root@example.com", "an admin passphrase")
        let expires = try #require(claims(of: token)["exp"] as? Int)
        let deadline = Date(timeIntervalSince1970: Double(expires) + 10)
        while Date().timeIntervalSince1970 < Double(expires), Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(Date().timeIntervalSince1970 >= Double(expires))
        return (server, token)
    }

    /// An erased user is shown only to ADMIN (ReadRules): a MANAGER's list of users by role,
    /// deleted ones included, leaves them out as a read by id does; an ADMIN's keeps them.
    @Test func anErasedUserIsListedToAnAdminOnly() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let admin = try await authd.adminToken()
        let manager = try await authd.manager("manager@example.com", admin: admin).token
        let erased = try await authd.register("erased@example.com")
        let deleted = try await authd.register("deleted@example.com")
        #expect(try await server.call("POST", "/v1/users/\(erased)/erase", token: admin).status == 204)
        #expect(try await server.call("DELETE", "/v1/users/\(deleted)", token: admin).status == 204)
        func listed(_ token: String) async throws -> [String] {
            let reply = try await server.call("GET", "/v1/users?role=TARGET&include_deleted=true", token: token)
            #expect(reply.status == 200)
            return (reply.json["users"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
        let byManager = try await listed(manager)
        #expect(byManager.contains(deleted) && !byManager.contains(erased), "\(byManager)")
        #expect(try await server.call("GET", "/v1/users/\(erased)", token: manager).status == 404)
        let byAdmin = try await listed(admin)
        #expect(byAdmin.contains(deleted) && byAdmin.contains(erased))
    }

    func register(_ server: RunningServer, _ email: String) async throws -> String {
        let reply = try await server.call(
            "POST", "/v1/users", json: ["email": email, "password": Self.password, "first_name": "A", "last_name": "B"])
        #expect(reply.status == 201, "register \(email): \(reply.status)")
        return try #require(reply.json["id"] as? String)
    }

    func login(_ server: RunningServer, _ email: String, _ password: String) async throws -> String {
        let reply = try await server.call("POST", "/v1/sessions", json: ["email": email, "password": password])
        #expect(reply.status == 200, "login \(email): \(reply.status)")
        return try #require(reply.json["access_token"] as? String)
    }
}

/// The claims of a JWT (its payload, unverified).
func claims(of token: String) throws -> [String: Any] {
    let part = String(token.split(separator: ".")[1])
    let base64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        .padding(toLength: (part.count + 3) / 4 * 4, withPad: "=", startingAt: 0)
    let data = try #require(Data(base64Encoded: base64))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}
