import Foundation
import TestSupport
import Testing

/// Deleting one's own account (`DELETE /v1/users/{id}` by the user): it takes the current
/// password, and it gives back an address the account never proved was its own.
@Suite(.ownThreads) struct SelfDeleteTests {
    /// An access token alone (stolen, say) cannot lock its owner out: the delete needs the
    /// current password, checked as a password change checks it (a wrong one is 401 and
    /// recorded as a failed login). Before, the bearer token was enough, and only an ADMIN
    /// could bring the account back.
    @Test func deletingYourOwnAccountTakesYourPassword() async throws {
        let accounts = try AccountServer()
        let server = accounts.server
        let id = try await accounts.register("ada@example.com")
        let token = try await accounts.login("ada@example.com")
        let bare = try await server.call("DELETE", "/v1/users/\(id)", token: token)
        #expect(bare.status == 400, "deleted with the access token alone: \(bare.status)")
        let wrong = try await server.call(
            "DELETE", "/v1/users/\(id)", json: ["current_password": "not the password"], token: token)
        #expect(wrong.status == 401 && wrong.code == "invalid_credentials", "\(wrong.status) \(wrong.json)")
        #expect(try await server.call("GET", "/v1/users/me", token: token).status == 200, "the account lives on")
        let history = try runAuthctl(["--data", accounts.data, "history", id])
        #expect(history.stdout.contains("LoginFailed"), "\(history.stdout)")

        let right = try await server.call(
            "DELETE", "/v1/users/\(id)", json: ["current_password": AccountServer.password], token: token)
        #expect(right.status == 204, "\(right.status) \(right.json)")
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "ada@example.com", "password": AccountServer.password])
        #expect(login.status == 401)
        // An ADMIN deleting someone else needs no password, as before.
        let other = try await accounts.register("bob@example.com")
        let admin = try await accounts.adminToken()
        #expect(try await server.call("DELETE", "/v1/users/\(other)", token: admin).status == 204)
    }

    /// The answer to the signed-in ADMIN posting `action` on their own page of the console
    /// (`/admin/users/ID/ACTION`), as a browser would: signed in, the page's CSRF token, then
    /// `fields`.
    static func adminActsOnOwnAccount(
        _ server: RunningServer, id: String, action: String, fields: [(String, String)] = []
    ) throws -> RunningServer.Reply {
        let cookie = try ConsoleSessionTests.signIn(
            server, email: AccountServer.adminEmail, password: AccountServer.adminPassword)
        let page = try exchange(
            port: server.port, from: "127.0.0.1", "GET", "/admin/users/\(id)",
            headers: ["Cookie": "authlog_console=\(cookie)"])
        let csrf = try ConsoleSessionTests.csrfToken(in: page)
        let body = ([("csrf", csrf)] + fields)
            .map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }
            .joined(separator: "&")
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.1")
        try connection.send(
            "POST /admin/users/\(id)/\(action) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + "Cookie: authlog_console=\(cookie)\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
        return try parseResponse(try #require(connection.readUntilClosed(timeout: 30)))
    }

    /// The console asks for no password, so it refuses an ADMIN's delete of their own account
    /// before anything is decided: no failed login is recorded against them, and they stay.
    @Test func theConsoleRefusesToDeleteTheSignedInAdmin() async throws {
        let accounts = try AccountServer()
        let server = accounts.server
        // The id first: a login through the API afterwards would end the console's session.
        let admin = try await server.call("GET", "/v1/users/me", token: try await accounts.adminToken())
        let id = try #require(admin.json["id"] as? String)
        let reply = try Self.adminActsOnOwnAccount(server, id: id, action: "delete")
        #expect(reply.status == 403, "\(reply.status)")
        let history = try runAuthctl(["--data", accounts.data, "history", id])
        #expect(
            !history.stdout.contains("LoginFailed") && !history.stdout.contains("UserSoftDeleted"), "\(history.stdout)")
        _ = try await accounts.adminToken()
    }

    /// An ADMIN's console session or access token cannot erase the ADMIN's own account, which
    /// would destroy it for good with no password asked: refused (403) through the console,
    /// with the erase confirmed as the page asks, and through the API, and nothing is recorded.
    /// Before, both erased it. Another ADMIN, or `authctl erase`, still can.
    @Test func anAdminCannotEraseTheirOwnAccount() async throws {
        let accounts = try AccountServer()
        let server = accounts.server
        let token = try await accounts.adminToken()
        let admin = try await server.call("GET", "/v1/users/me", token: token)
        let id = try #require(admin.json["id"] as? String)
        let byAPI = try await server.call("POST", "/v1/users/\(id)/erase", token: token)
        #expect(byAPI.status == 403 && byAPI.code == "cannot_erase_own_account", "\(byAPI.status) \(byAPI.json)")

        let reply = try Self.adminActsOnOwnAccount(
            server, id: id, action: "erase", fields: [("confirm", AccountServer.adminEmail)])
        #expect(reply.status == 403, "\(reply.status) \(reply.headers["location"] ?? "")")
        let history = try runAuthctl(["--data", accounts.data, "history", id])
        #expect(!history.stdout.contains("UserErased"), "\(history.stdout)")
        // The account still signs in (the console's sign-in ended the API's session).
        let again = try await server.call("GET", "/v1/users/me", token: try await accounts.adminToken())
        #expect(again.status == 200 && again.json["email"] as? String == AccountServer.adminEmail)
    }

    /// Someone registers an address that is not theirs (no verification is needed to hold
    /// one), then deletes the account. Before, the address stayed reserved for good: its owner
    /// got 409 registering it, and no reset or verification mail for it. An address never
    /// verified is now released by the delete; a verified one stays reserved for a restore,
    /// and a restore claims a released one again unless it was taken meanwhile.
    @Test func anAddressNeverVerifiedIsFreedWhenItsAccountIsDeleted() async throws {
        let accounts = try AccountServer()
        let server = accounts.server
        let squatter = try await accounts.register("owner@example.com")
        let token = try await accounts.login("owner@example.com")
        let deleted = try await server.call(
            "DELETE", "/v1/users/\(squatter)", json: ["current_password": AccountServer.password], token: token)
        #expect(deleted.status == 204)
        let owner = try await server.call(
            "POST", "/v1/users",
            json: [
                "email": "owner@example.com", "password": "the owner's passphrase", "first_name": "O", "last_name": "W",
            ])
        #expect(owner.status == 201, "the owner could not register their address: \(owner.status) \(owner.json)")
        // The squatter's account cannot come back with the address the owner now holds.
        let admin = try await accounts.adminToken()
        let restored = try await server.call("POST", "/v1/users/\(squatter)/restore", token: admin)
        #expect(restored.status == 409 && restored.code == "email_taken", "\(restored.status) \(restored.json)")

        // Verified, the address stays the account's through a delete, and comes back with it.
        let verified = try await accounts.register("kept@example.com")
        let confirm = try await server.call(
            "POST", "/v1/email-verifications/confirm",
            json: ["token": try server.mailedToken("Confirm", to: "kept@example.com")])
        #expect(confirm.status == 204, "\(confirm.status)")
        let keptToken = try await accounts.login("kept@example.com")
        #expect(
            try await server.call(
                "DELETE", "/v1/users/\(verified)", json: ["current_password": AccountServer.password], token: keptToken
            ).status == 204)
        let again = try await server.call(
            "POST", "/v1/users",
            json: ["email": "kept@example.com", "password": "another passphrase", "first_name": "K", "last_name": "P"])
        #expect(again.status == 409)
        let back = try await server.call("POST", "/v1/users/\(verified)/restore", token: admin)
        #expect(back.status == 200, "\(back.status) \(back.json)")
        _ = try await accounts.login("kept@example.com")
    }
}
