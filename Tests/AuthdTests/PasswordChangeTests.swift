import Foundation
import TestSupport
import Testing

/// `POST /v1/users/me/password` against a real authd: the current password is checked under
/// the login's throttling, success ends the session as a reset does and mails a notice.
@Suite(.ownThreads) struct PasswordChangeTests {
    static let newPassword = "a brand new passphrase"

    @Test func aChangeEndsTheSessionRecordsItAndMailsANotice() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let ada = try await authd.register("ada@example.com")
        let (token, refresh) = try await authd.session("ada@example.com")
        let path = "/v1/users/me/password"

        let wrong = try await server.call(
            "POST", path, json: ["current_password": "not the password", "new_password": Self.newPassword],
            token: token)
        #expect(wrong.status == 401 && wrong.code == "invalid_credentials")
        #expect(wrong.headers["authlog-position"] == nil)
        let weak = try await server.call(
            "POST", path, json: ["current_password": AccountServer.password, "new_password": "short"], token: token)
        #expect(weak.status == 422 && weak.code == "weak_password")
        let extra = try await server.call(
            "POST", path, json: ["current_password": AccountServer.password, "new_password": Self.newPassword, "x": 1],
            token: token)
        #expect(extra.status == 400)
        let anonymous = try await server.call(
            "POST", path, json: ["current_password": AccountServer.password, "new_password": Self.newPassword])
        #expect(anonymous.status == 401 && anonymous.code == "unauthorized")
        // Wrong password and weak new one changed nothing: the session still works.
        #expect(try await server.call("GET", "/v1/users/me", token: token).status == 200)

        let changed = try await server.call(
            "POST", path, json: ["current_password": AccountServer.password, "new_password": Self.newPassword],
            token: token)
        #expect(changed.status == 204, "\(String(decoding: changed.body, as: UTF8.self))")
        #expect(changed.headers["authlog-position"] != nil)

        // The session ended: the access token and the refresh token are refused.
        #expect(try await server.call("GET", "/v1/users/me", token: token).status == 401)
        let refreshed = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": refresh])
        #expect(refreshed.status == 401)
        let old = try await server.call(
            "POST", "/v1/sessions", json: ["email": "ada@example.com", "password": AccountServer.password])
        #expect(old.status == 401)
        let fresh = try await authd.login("ada@example.com", Self.newPassword)

        // The trail: the wrong current password as LoginFailed, then PasswordChanged, both by
        // ada; then the failed login with the old password.
        let admin = try await authd.adminToken()
        let trail = try await authd.trail(ada, admin: admin)
        let mine = trail.filter { ["LoginFailed", "PasswordChanged"].contains($0["type"] as? String) }
        #expect(mine.compactMap { $0["type"] as? String } == ["LoginFailed", "PasswordChanged", "LoginFailed"])
        #expect(mine.compactMap { $0["actor"] as? String } == [ada, ada, ada])
        let changes = mine.dropFirst().first?["changes"] as? [String: String]
        #expect(changes?["password_hash"] == "changed" && changes?["tokens_valid_after"] != nil)
        #expect(try await server.call("GET", "/v1/users/me", token: fresh).status == 200)

        // The notice went to ada's address, with neither password in it.
        let folder = authd.data + "/maildir/new"
        let messages = try FileManager.default.contentsOfDirectory(atPath: folder).map {
            try String(contentsOfFile: folder + "/" + $0, encoding: .utf8)
        }
        let notices = messages.filter { $0.contains("Subject: Your password was changed") }
        #expect(notices.count == 1)
        #expect(notices.first?.contains("\r\nTo: ada@example.com\r\n") == true)
        for text in messages + (try exportLines(authd.data)) {
            #expect(!text.contains(AccountServer.password) && !text.contains(Self.newPassword))
        }
    }

    /// An account registered on someone else's address (nobody verifies an address to hold
    /// it) cannot flood that address with notices: of its seven password changes and a
    /// refresh token reused in one hour, all are recorded and take effect, and the first five
    /// are mailed (``UserState/noticesMailedPerHour``). Before, every one was mailed, limited only
    /// by each client's request rate.
    @Test func anAccountMailsAtMostFiveNoticesAnHour() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let id = try await authd.register("victim@example.com")
        var password = AccountServer.password
        for change in 1...7 {
            let token = try await authd.login("victim@example.com", password)
            let next = "\(Self.newPassword) \(change)"
            let changed = try await server.call(
                "POST", "/v1/users/me/password", json: ["current_password": password, "new_password": next],
                token: token)
            #expect(changed.status == 204, "change \(change): \(changed.status)")
            password = next
        }
        let signedIn = try await server.call(
            "POST", "/v1/sessions", json: ["email": "victim@example.com", "password": password])
        let first = try #require(signedIn.json["refresh_token"] as? String)
        var refresh = first
        for _ in 1...2 {
            let rotated = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": refresh])
            #expect(rotated.status == 200)
            refresh = try #require(rotated.json["refresh_token"] as? String)
        }
        let replayed = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": first])
        #expect(replayed.status == 401)

        let trail = try await authd.trail(id, admin: try await authd.adminToken())
        let types = trail.compactMap { $0["type"] as? String }
        #expect(types.filter { $0 == "PasswordChanged" }.count == 7)
        #expect(types.filter { $0 == "RefreshTokenReuseDetected" }.count == 1)
        _ = try await authd.login("victim@example.com", password)

        let folder = authd.data + "/maildir/new"
        let messages = try FileManager.default.contentsOfDirectory(atPath: folder).map {
            try String(contentsOfFile: folder + "/" + $0, encoding: .utf8)
        }.filter { $0.contains("\r\nTo: victim@example.com\r\n") }
        let changed = messages.filter { $0.contains("Subject: Your password was changed") }
        let ended = messages.filter { $0.contains("Subject: A session of yours was ended") }
        #expect(changed.count == 5 && ended.isEmpty, "\(changed.count) and \(ended.count) notices mailed")
    }

    @Test func wrongCurrentPasswordsShareTheLoginsBudget() async throws {
        let authd = try AccountServer(arguments: ["--login-failures-per-address", "2"])
        let server = authd.server
        let ada = try await authd.register("ada@example.com")
        let token = try await authd.login("ada@example.com")
        let guess = ["current_password": "a wrong guess", "new_password": PasswordChangeTests.newPassword]
        for _ in 0..<2 {
            let reply = try await server.call("POST", "/v1/users/me/password", json: guess, token: token)
            #expect(reply.status == 401 && reply.code == "invalid_credentials")
        }
        let throttled = try await server.call("POST", "/v1/users/me/password", json: guess, token: token)
        #expect(throttled.status == 429 && throttled.code == "rate_limited")
        #expect(Int(throttled.headers["retry-after"] ?? "") ?? 0 >= 1)
        // The same budget as the login's: from this address, even the right password waits.
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "ada@example.com", "password": AccountServer.password])
        #expect(login.status == 429)
        // Two failures recorded; the throttled attempts recorded nothing.
        let admin = try await authd.adminToken()
        let failures = try await authd.trail(ada, admin: admin).filter { $0["type"] as? String == "LoginFailed" }
        #expect(failures.count == 2)
    }
}
