import Foundation
import TestSupport
import Testing

/// The links in authd's mail: under --public-url, to pages that ask before they use a token;
/// and the notices after a password change and a reused refresh token.
@Suite(.ownThreads) struct MailLinkTests {
    func register(_ server: RunningServer, _ email: String) async throws {
        let reply = try await server.call(
            "POST", "/v1/users",
            json: ["email": email, "password": "correct horse battery", "first_name": "Ada", "last_name": "L"])
        #expect(reply.status == 201)
    }

    func form(_ server: RunningServer, _ path: String, _ fields: [String: String]) async throws -> RunningServer.Reply {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-_.~")
        let body = fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
        return try await server.call(
            "POST", path, raw: Data(body.utf8), contentType: "application/x-www-form-urlencoded")
    }

    /// Signs in as `email` (its password the suite's) and asks to move the account to `newEmail`.
    func askToMove(_ server: RunningServer, _ email: String, to newEmail: String) async throws -> RunningServer.Reply {
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": email, "password": "correct horse battery"])
        let access = try #require(login.json["access_token"] as? String)
        return try await server.call(
            "POST", "/v1/users/me/email",
            json: ["current_password": "correct horse battery", "new_email": newEmail], token: access)
    }

    /// The newest Maildir message whose subject is `subject`.
    func message(_ server: RunningServer, _ subject: String) throws -> String {
        let folder = server.data + "/maildir/new/"
        for name in try FileManager.default.contentsOfDirectory(atPath: folder).sorted().reversed() {
            let text = try String(contentsOfFile: folder + name, encoding: .utf8)
            if text.contains("\r\nSubject: \(subject)\r\n") { return text }
        }
        throw RunningServer.ServerError.didNotStart("no message \(subject)")
    }

    @Test func aResetLinkOpensAPageThatAsksBeforeItUsesTheToken() async throws {
        let server = try RunningServer(arguments: ["--public-url", "https://auth.example.com/base/"])
        try await register(server, "ada@example.com")
        #expect(try await server.call("POST", "/v1/password-resets", json: ["email": "ada@example.com"]).status == 202)
        let mail = try message(server, "Reset your password")
        #expect(mail.contains("Content-Type: multipart/alternative; boundary="))
        #expect(mail.contains("Content-Type: text/html; charset=utf-8"))
        let token = try #require(tokens(in: mail).first)
        let link = "https://auth.example.com/base/reset-password?token=\(token)"
        #expect(mail.contains(link + "\r\n") && mail.contains("href=\"\(link)\""))

        // What a link scanner does: open it, twice. Nothing is used.
        for _ in 0..<2 {
            let page = try await server.call("GET", "/reset-password?token=\(token)")
            #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8")
            #expect(page.headers["cache-control"] == "no-store" && page.headers["referrer-policy"] == "no-referrer")
            let html = String(decoding: page.body, as: UTF8.self)
            #expect(html.contains("<form method=\"post\" action=\"reset-password\">"))
            #expect(html.contains("name=\"token\" value=\"\(token)\""))
        }
        let differ = try await form(
            server, "/reset-password",
            ["token": token, "new_password": "a brand new passphrase", "confirm_password": "something else"])
        #expect(
            differ.status == 400 && String(decoding: differ.body, as: UTF8.self).contains("The two passwords differ."))
        let done = try await form(
            server, "/reset-password",
            ["token": token, "new_password": "a brand new passphrase", "confirm_password": "a brand new passphrase"])
        #expect(done.status == 200, "\(String(decoding: done.body, as: UTF8.self))")
        let again = try await form(
            server, "/reset-password",
            ["token": token, "new_password": "another passphrase!", "confirm_password": "another passphrase!"])
        #expect(again.status == 401, "a used token is refused on a page")
        #expect(String(decoding: again.body, as: UTF8.self).contains("<!DOCTYPE html>"))
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "ada@example.com", "password": "a brand new passphrase"])
        #expect(login.status == 200)
        // The reset is a password change: the holder gets the notice.
        let notice = try message(server, "Your password was changed")
        #expect(notice.contains("To: ada@example.com\r\n") && tokens(in: notice).isEmpty)

        let broken = try await server.call("GET", "/reset-password?token=%3Cscript%3E")
        #expect(broken.status == 400 && !String(decoding: broken.body, as: UTF8.self).contains("<script>"))
    }

    @Test func aVerificationLinkConfirmsOnlyOnThePagesPost() async throws {
        let server = try RunningServer(arguments: ["--public-url", "https://auth.example.com"])
        try await register(server, "grace@example.com")
        let mail = try message(server, "Confirm your email address")
        let token = try #require(tokens(in: mail).first)
        #expect(mail.contains("https://auth.example.com/verify-email?token=\(token)\r\n"))
        let page = try await server.call("GET", "/verify-email?token=\(token)")
        #expect(page.status == 200 && String(decoding: page.body, as: UTF8.self).contains("action=\"verify-email\""))
        let confirmed = try await form(server, "/verify-email", ["token": token])
        #expect(confirmed.status == 200)
        let twice = try await server.call("POST", "/v1/email-verifications/confirm", json: ["token": token])
        #expect(twice.status == 401, "the page's POST used the token")
        let json = try await server.call("POST", "/verify-email", json: ["token": token])
        #expect(json.status == 415)
    }

    /// Whoever registers an address, or asks to move an account to one, writes the names: they
    /// go only to the account's own address once it is verified, never to one not shown to be
    /// the account's (the names would be a stranger's words in a genuine mail).
    @Test func namesAreMailedOnlyToTheAccountsVerifiedAddress() async throws {
        let server = try RunningServer()
        let names = ["first_name": "Win a prize at http://spam.example/x", "last_name": "Call 555 0100"]
        let registered = try await server.call(
            "POST", "/v1/users",
            json: ["email": "judy@example.com", "password": "correct horse battery"].merging(names) { $1 })
        #expect(registered.status == 201)
        func expectNoNames(_ mail: String) {
            #expect(!mail.contains("spam.example") && !mail.contains("555 0100"))
            #expect(mail.contains("Hello,\r\n") && mail.contains("<p>Hello,</p>"))
        }
        let verification = try message(server, "Confirm your email address")
        expectNoNames(verification)
        // Before the address is verified, a move of the account is noticed there without the
        // address asked for (whoever asked chose it).
        let earlyMove = try await askToMove(server, "judy@example.com", to: "call-555-0100-for-a-prize@example.net")
        #expect(earlyMove.status == 202)
        let earlyNotice = try message(server, "Your email address is about to change")
        expectNoNames(earlyNotice)
        #expect(!earlyNotice.contains("555-0100") && earlyNotice.contains("another address"))
        let token = try #require(tokens(in: verification).first)
        #expect(try await server.call("POST", "/v1/email-verifications/confirm", json: ["token": token]).status == 204)

        let asked = try await askToMove(server, "judy@example.com", to: "someone.else@example.com")
        #expect(asked.status == 202)
        let confirmation = try message(server, "Confirm your new email address")
        #expect(confirmation.contains("To: someone.else@example.com\r\n"))
        expectNoNames(confirmation)
        // The account's own address, verified: the names are the owner's to read.
        let notice = try message(server, "Your email address is about to change")
        #expect(notice.contains("To: judy@example.com\r\n"))
        #expect(notice.contains("Hello Win a prize at http://spam.example/x,\r\n"))
        #expect(notice.contains("someone.else@example.com"))
    }

    @Test func aReusedRefreshTokenSendsTheSessionRevokedNotice() async throws {
        let server = try RunningServer(arguments: ["--refresh-grace", "0"])
        try await register(server, "heidi@example.com")
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "heidi@example.com", "password": "correct horse battery"])
        let refresh = try #require(login.json["refresh_token"] as? String)
        #expect(try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": refresh]).status == 200)
        #expect(try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": refresh]).status == 401)
        let notice = try message(server, "A session of yours was ended")
        #expect(notice.contains("To: heidi@example.com\r\n") && tokens(in: notice).isEmpty)
        #expect(!notice.contains(refresh))
    }

    @Test func anEmailChangeLinkConfirmsOnlyOnThePagesPostAndTheOldAddressGetsTheNotice() async throws {
        let server = try RunningServer(arguments: ["--public-url", "https://auth.example.com"])
        try await register(server, "ivan@example.com")
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "ivan@example.com", "password": "correct horse battery"])
        let access = try #require(login.json["access_token"] as? String)
        let asked = try await server.call(
            "POST", "/v1/users/me/email",
            json: ["current_password": "correct horse battery", "new_email": "ivan.new@example.com"],
            token: access)
        #expect(asked.status == 202, "\(String(decoding: asked.body, as: UTF8.self))")
        let mail = try message(server, "Confirm your new email address")
        #expect(
            mail.contains("To: ivan.new@example.com\r\n") && mail.contains("Content-Type: text/html; charset=utf-8"))
        let token = try #require(tokens(in: mail).first)
        let link = "https://auth.example.com/confirm-email-change?token=\(token)"
        #expect(mail.contains(link + "\r\n") && mail.contains("href=\"\(link)\""))
        let notice = try message(server, "Your email address is about to change")
        #expect(notice.contains("To: ivan@example.com\r\n") && !notice.contains("ivan.new@example.com"))
        #expect(tokens(in: notice).isEmpty, "the old address never gets the token")

        // A link scanner opens the page: nothing moves.
        let page = try await server.call("GET", "/confirm-email-change?token=\(token)")
        #expect(
            page.status == 200 && String(decoding: page.body, as: UTF8.self).contains("action=\"confirm-email-change\"")
        )
        let stillOld = try await server.call(
            "POST", "/v1/sessions", json: ["email": "ivan@example.com", "password": "correct horse battery"])
        #expect(stillOld.status == 200)
        let confirmed = try await form(server, "/confirm-email-change", ["token": token])
        #expect(confirmed.status == 200, "\(String(decoding: confirmed.body, as: UTF8.self))")
        let moved = try await server.call(
            "POST", "/v1/sessions", json: ["email": "ivan.new@example.com", "password": "correct horse battery"])
        #expect(moved.status == 200)
        let twice = try await form(server, "/confirm-email-change", ["token": token])
        #expect(twice.status == 401, "a used token is refused on the page")
    }
}
