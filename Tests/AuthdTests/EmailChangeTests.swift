import Foundation
import TestSupport
import Testing

/// Changing one's email address against a real authd: the new address confirms, the old one
/// is told, the claim moves only on confirmation, and a clash then is a clear 409.
@Suite(.ownThreads) struct EmailChangeHTTPTests {
    /// The mails in the Maildir to `recipient` whose subject is `subject`.
    func mails(_ data: String, to recipient: String, subject: String) throws -> [String] {
        let folder = data + "/maildir/new"
        return try FileManager.default.contentsOfDirectory(atPath: folder).map {
            try String(contentsOfFile: folder + "/" + $0, encoding: .utf8)
        }.filter { $0.contains("\r\nTo: \(recipient)\r\n") && $0.contains("Subject: \(subject)\r\n") }
    }

    /// Asks, with `token`'s session and the account's password, to move the account to
    /// `address`; the request is accepted.
    func askToMove(_ authd: AccountServer, token: String, to address: String) async throws {
        let asked = try await authd.server.call(
            "POST", "/v1/users/me/email", json: ["new_email": address, "current_password": AccountServer.password],
            token: token)
        #expect(asked.status == 202)
    }

    /// Each email-change request mails the address it names: one address is named at most 3
    /// times an hour from all accounts together, and one account asks at most 5 times an
    /// hour. Past either, 429 with Retry-After and nothing mailed; refused requests (a wrong
    /// password) do not count. Before, only the client's 60 requests a minute limited them:
    /// any account could mail-bomb any address with genuine confirmation mails.
    @Test func requestsNamingOneAddressAndRequestsOfOneAccountAreLimited() async throws {
        let authd = try AccountServer()
        let server = authd.server
        _ = try await authd.register("ada@example.com")
        _ = try await authd.register("bob@example.com")
        let ada = try await authd.login("ada@example.com")
        let bob = try await authd.login("bob@example.com")
        func ask(_ token: String, _ address: String, _ password: String = AccountServer.password) async throws
            -> RunningServer.Reply
        {
            try await server.call(
                "POST", "/v1/users/me/email", json: ["new_email": address, "current_password": password], token: token)
        }
        let subject = "Confirm your new email address"
        #expect(try await ask(ada, "victim@example.net", "not the password").status == 401)
        for _ in 0..<3 { try await askToMove(authd, token: ada, to: "victim@example.net") }
        let refused = try await ask(ada, "victim@example.net")
        #expect(refused.status == 429 && refused.code == "rate_limited" && refused.headers["retry-after"] != nil)
        let fromAnother = try await ask(bob, "Victim@Example.net")
        #expect(fromAnother.status == 429 && fromAnother.code == "rate_limited")
        #expect(try mails(authd.data, to: "victim@example.net", subject: subject).count == 3)
        #expect(try mails(authd.data, to: "Victim@Example.net", subject: subject).isEmpty)

        // Ada has asked three times: two more to other addresses, then the account's limit.
        try await askToMove(authd, token: ada, to: "one@example.net")
        try await askToMove(authd, token: ada, to: "two@example.net")
        let sixth = try await ask(ada, "three@example.net")
        #expect(sixth.status == 429 && sixth.code == "rate_limited")
        #expect(try mails(authd.data, to: "three@example.net", subject: subject).isEmpty)
        // Bob's refused request did not count against his own 5.
        for index in 1...5 { try await askToMove(authd, token: bob, to: "bob.\(index)@example.net") }
        #expect(try await ask(bob, "bob.6@example.net").status == 429)
    }

    /// The notice an email change mails the address it would leave is one of the account's
    /// notices, at most five in any hour with the others, counted in the account's own events;
    /// and since that notice is the owner's warning, a change is refused (429, Retry-After,
    /// nothing recorded or mailed) while the hour's notices are used up, however they were
    /// used: no change is asked for unwarned. Before, only the email-change limits of one
    /// process's memory held it: a session replay's notice and five email changes mailed the
    /// address six notices in the hour.
    @Test func emailChangeNoticesShareTheAccountsHourlyNoticesAndNoChangeGoesUnwarned() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let id = try await authd.register("victim@example.com")
        let first = try await authd.session("victim@example.com").refresh
        let rotated = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": first])
        let second = try #require(rotated.json["refresh_token"] as? String)
        _ = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": second])
        #expect(try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": first]).status == 401)

        let token = try await authd.login("victim@example.com")
        for index in 1...4 { try await askToMove(authd, token: token, to: "elsewhere.\(index)@example.net") }
        let fifth = try await server.call(
            "POST", "/v1/users/me/email",
            json: ["new_email": "elsewhere.5@example.net", "current_password": AccountServer.password], token: token)
        #expect(fifth.status == 429 && fifth.code == "rate_limited", "\(fifth.status) \(fifth.json)")
        #expect((Int(fifth.headers["retry-after"] ?? "") ?? 0) > 3_000, "\(fifth.headers)")

        let trail = try await authd.trail(id, admin: try await authd.adminToken())
        let types = trail.compactMap { $0["type"] as? String }
        #expect(types.filter { $0 == "RefreshTokenReuseDetected" }.count == 1)
        #expect(types.filter { $0 == "EmailChangeRequested" }.count == 4)
        let ended = try mails(authd.data, to: "victim@example.com", subject: "A session of yours was ended")
        let moving = try mails(authd.data, to: "victim@example.com", subject: "Your email address is about to change")
        #expect(ended.count == 1 && moving.count == 4, "\(ended.count) and \(moving.count) notices mailed")
        // Each change asked for sent its confirmation; the refused one sent none.
        for index in 1...5 {
            let confirm = try mails(
                authd.data, to: "elsewhere.\(index)@example.net", subject: "Confirm your new email address")
            #expect(confirm.count == (index < 5 ? 1 : 0), "elsewhere.\(index)")
        }
    }

    @Test func theNewAddressConfirmsTheOldIsToldAndTheClaimMovesThen() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let ada = try await authd.register("ada@example.com")
        _ = try await authd.register("bob@example.com")
        let token = try await authd.login("ada@example.com")
        let path = "/v1/users/me/email"
        func ask(_ address: String, _ password: String = AccountServer.password) async throws -> RunningServer.Reply {
            try await server.call(
                "POST", path, json: ["new_email": address, "current_password": password], token: token)
        }

        let wrong = try await ask("ada.new@example.com", "not the password")
        #expect(wrong.status == 401 && wrong.code == "invalid_credentials")
        let same = try await ask("ADA@example.com")
        #expect(same.status == 422 && same.code == "invalid_field")
        let taken = try await ask("bob@example.com")
        #expect(taken.status == 409 && taken.code == "email_taken")
        let invalid = try await ask("not an address")
        #expect(invalid.status == 422 && invalid.code == "invalid_email")
        #expect(try mails(authd.data, to: "ada.new@example.com", subject: "Confirm your new email address").isEmpty)

        let asked = try await ask("Ada.New@example.com")
        #expect(asked.status == 202, "\(String(decoding: asked.body, as: UTF8.self))")
        #expect(asked.headers["authlog-position"] != nil)
        #expect(try mails(authd.data, to: "Ada.New@example.com", subject: "Confirm your new email address").count == 1)
        let notice = try mails(authd.data, to: "ada@example.com", subject: "Your email address is about to change")
        // ada@example.com was never verified: the notice does not name the address asked for.
        #expect(notice.count == 1 && notice.first?.contains("another address") == true)
        #expect(notice.first?.contains("Ada.New@example.com") == false)

        // Nothing moved yet: the account keeps its address, the new one is not its login.
        let admin = try await authd.adminToken()
        let before = try await server.call("GET", "/v1/users/me", token: token)
        #expect(before.json["email"] as? String == "ada@example.com")
        let byNew = try await server.call("GET", "/v1/users?email=ada.new@example.com", token: admin)
        #expect((byNew.json["users"] as? [Any])?.isEmpty == true)
        let early = try await server.call(
            "POST", "/v1/sessions", json: ["email": "ada.new@example.com", "password": AccountServer.password])
        #expect(early.status == 401)

        let confirmation = try server.mailedToken("Confirm your new email address", to: "Ada.New@example.com")
        // One character of the secret changed: the one before last, whose six bits all count
        // (replacing the last two with "AA" sent the token itself when it ended so).
        var altered = Array(confirmation)
        altered[altered.count - 2] = altered[altered.count - 2] == "A" ? "B" : "A"
        let forged = try await server.call("POST", "/v1/email-changes/confirm", json: ["token": String(altered)])
        #expect(forged.status == 401 && forged.code == "invalid_token")
        let confirmed = try await server.call("POST", "/v1/email-changes/confirm", json: ["token": confirmation])
        #expect(confirmed.status == 204, "\(String(decoding: confirmed.body, as: UTF8.self))")
        let again = try await server.call("POST", "/v1/email-changes/confirm", json: ["token": confirmation])
        #expect(again.status == 401 && again.code == "invalid_token")

        // The address moved, verified; the old one is free for anyone.
        let after = try await server.call("GET", "/v1/users/\(ada)", token: admin)
        #expect(after.json["email"] as? String == "Ada.New@example.com")
        #expect(after.json["email_verified_at"] is String)
        let found = try await server.call("GET", "/v1/users?email=ada.new@example.com", token: admin)
        #expect((found.json["users"] as? [[String: Any]])?.map { $0["id"] as? String } == [ada])
        let byOld = try await server.call("GET", "/v1/users?email=ada@example.com", token: admin)
        #expect((byOld.json["users"] as? [Any])?.isEmpty == true)
        _ = try await authd.login("ada.new@example.com")
        let old = try await server.call(
            "POST", "/v1/sessions", json: ["email": "ada@example.com", "password": AccountServer.password])
        #expect(old.status == 401)
        _ = try await authd.register("ada@example.com")

        // Each step in the trail, by ada.
        let trail = try await authd.trail(ada, admin: admin)
        let steps = trail.filter { ($0["type"] as? String)?.hasPrefix("EmailChange") == true }
        #expect(steps.compactMap { $0["type"] as? String } == ["EmailChangeRequested", "EmailChanged"])
        #expect(steps.allSatisfy { $0["actor"] as? String == ada })
        let requested = steps.first?["changes"] as? [String: String]
        #expect(requested?["pending_email"] == "Ada.New@example.com" && requested?["email"] == nil)
        let changed = steps.last?["changes"] as? [String: String]
        #expect(changed?["email"] == "Ada.New@example.com" && changed?["email_verified_at"] != nil)
        #expect(!(try exportLines(authd.data).joined().contains(confirmation)))
    }

    @Test func anAddressTakenBeforeTheConfirmationIsAClear409AndNothingMoves() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let ada = try await authd.register("ada@example.com")
        let token = try await authd.login("ada@example.com")
        try await askToMove(authd, token: token, to: "carol@example.com")
        // Carol registers the address while the confirmation waits.
        _ = try await authd.register("carol@example.com")
        let confirmation = try server.mailedToken("Confirm your new email address", to: "carol@example.com")
        let clash = try await server.call("POST", "/v1/email-changes/confirm", json: ["token": confirmation])
        #expect(clash.status == 409 && clash.code == "email_taken")
        #expect(clash.headers["content-type"] == "application/problem+json")
        let admin = try await authd.adminToken()
        let user = try await server.call("GET", "/v1/users/\(ada)", token: admin)
        #expect(user.json["email"] as? String == "ada@example.com")
        let types = try await authd.trail(ada, admin: admin).compactMap { $0["type"] as? String }
        #expect(!types.contains("EmailChanged"))
        _ = try await authd.login("ada@example.com")
    }

    /// Someone who knew the password asks to move the account to their own address; the owner,
    /// warned by the notice, sets a new password: the change they did not ask for is cancelled
    /// and its confirmation refused. A reset token mailed before a change of password, or to
    /// the address the account left, is refused too.
    @Test(arguments: ["reset", "change"])
    func aNewPasswordCancelsAPendingEmailChangeAndOldResetTokens(_ how: String) async throws {
        let authd = try AccountServer()
        let server = authd.server
        let ada = try await authd.register("ada@example.com")
        let intruder = try await authd.login("ada@example.com")
        try await askToMove(authd, token: intruder, to: "intruder@example.com")
        let confirmation = try server.mailedToken("Confirm your new email address", to: "intruder@example.com")
        let newPassword = "a brand new passphrase"
        if how == "reset" {
            #expect(
                try await server.call("POST", "/v1/password-resets", json: ["email": "ada@example.com"]).status == 202)
            let reset = try await server.call(
                "POST", "/v1/password-resets/confirm",
                json: ["token": try server.mailedToken("Reset", to: "ada@example.com"), "new_password": newPassword])
            #expect(reset.status == 204)
        } else {
            // A reset asked for before the change: its token dies with the old password.
            #expect(
                try await server.call("POST", "/v1/password-resets", json: ["email": "ada@example.com"]).status == 202)
            let resetToken = try server.mailedToken("Reset", to: "ada@example.com")
            let owner = try await authd.login("ada@example.com")
            let changed = try await server.call(
                "POST", "/v1/users/me/password",
                json: ["current_password": AccountServer.password, "new_password": newPassword], token: owner)
            #expect(changed.status == 204)
            let late = try await server.call(
                "POST", "/v1/password-resets/confirm",
                json: ["token": resetToken, "new_password": "the intruder's own"])
            #expect(late.status == 401 && late.code == "invalid_token")
        }
        let refused = try await server.call("POST", "/v1/email-changes/confirm", json: ["token": confirmation])
        #expect(refused.status == 401 && refused.code == "invalid_token")
        let admin = try await authd.adminToken()
        let user = try await server.call("GET", "/v1/users/\(ada)", token: admin)
        #expect(user.json["email"] as? String == "ada@example.com")
        let owner = try await server.call(
            "POST", "/v1/sessions", json: ["email": "ada@example.com", "password": newPassword])
        #expect(owner.status == 200)
    }

    /// A reset token mailed to the old address is refused once the account has moved to a new
    /// one: whoever still reads the old mailbox cannot take the account back.
    @Test func aResetTokenMailedToTheOldAddressDiesWithTheMove() async throws {
        let authd = try AccountServer()
        let server = authd.server
        _ = try await authd.register("ada@example.com")
        #expect(try await server.call("POST", "/v1/password-resets", json: ["email": "ada@example.com"]).status == 202)
        let oldReset = try server.mailedToken("Reset", to: "ada@example.com")
        let token = try await authd.login("ada@example.com")
        try await askToMove(authd, token: token, to: "ada.new@example.com")
        let confirmation = try server.mailedToken("Confirm your new email address", to: "ada.new@example.com")
        #expect(try await server.call("POST", "/v1/email-changes/confirm", json: ["token": confirmation]).status == 204)
        let late = try await server.call(
            "POST", "/v1/password-resets/confirm",
            json: ["token": oldReset, "new_password": "someone else's passphrase"])
        #expect(late.status == 401 && late.code == "invalid_token")
        _ = try await authd.login("ada.new@example.com")
    }
}
