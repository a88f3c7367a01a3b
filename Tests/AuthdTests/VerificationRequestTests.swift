import Foundation
import TestSupport
import Testing

/// `POST /v1/email-verifications` against a real authd: a new verification mail on request,
/// the same answer for every address, rate-limited per client address and per address.
@Suite(.ownThreads) struct VerificationRequestTests {
    /// The mails waiting for `recipient` about verification.
    func verificationMails(_ data: String, to recipient: String) throws -> [String] {
        let folder = data + "/maildir/new"
        return try FileManager.default.contentsOfDirectory(atPath: folder).map {
            try String(contentsOfFile: folder + "/" + $0, encoding: .utf8)
        }.filter { $0.contains("\r\nTo: \(recipient)\r\n") && $0.contains("Subject: Confirm your email address") }
    }

    /// What an answer shows a client: status, body and header names, without the ones that
    /// differ on every answer (date, request id).
    func visible(_ reply: RunningServer.Reply) -> String {
        let names = reply.headers.keys.filter { !["date", "x-request-id"].contains($0) }.sorted()
        return "\(reply.status) \(names) \(reply.body.base64EncodedString())"
    }

    @Test func theAnswerIsTheSameForKnownAndUnknownAddressesAndOnlyTheKnownGetMail() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let ada = try await authd.register("ada@example.com")
        #expect(try verificationMails(authd.data, to: "ada@example.com").count == 1)

        let known = try await server.call("POST", "/v1/email-verifications", json: ["email": "ada@example.com"])
        let unknown = try await server.call("POST", "/v1/email-verifications", json: ["email": "nobody@example.com"])
        #expect(known.status == 202)
        #expect(visible(known) == visible(unknown))
        #expect(known.headers["authlog-position"] == nil)
        #expect(try verificationMails(authd.data, to: "ada@example.com").count == 2)
        #expect(try verificationMails(authd.data, to: "nobody@example.com").isEmpty)

        // The newest token confirms the address; then a request sends nothing and looks the same.
        let token = try server.mailedToken("Confirm your email address", to: "ada@example.com")
        let confirmed = try await server.call("POST", "/v1/email-verifications/confirm", json: ["token": token])
        #expect(confirmed.status == 204)
        let verified = try await server.call("POST", "/v1/email-verifications", json: ["email": "ADA@example.com "])
        #expect(visible(verified) == visible(unknown))
        #expect(try verificationMails(authd.data, to: "ada@example.com").count == 2)

        let admin = try await authd.adminToken()
        let requests = try await authd.trail(ada, admin: admin).filter {
            $0["type"] as? String == "EmailVerificationRequested"
        }
        #expect(requests.count == 2)
        #expect(requests.last?["actor"] as? String == "anonymous")
        let invalid = try await server.call("POST", "/v1/email-verifications", json: ["address": "ada@example.com"])
        #expect(invalid.status == 400)
    }

    @Test func anAddressGetsThreeAnHourKnownOrNot() async throws {
        let authd = try AccountServer()
        let server = authd.server
        _ = try await authd.register("ada@example.com")
        for email in ["ada@example.com", "nobody@example.com"] {
            var answers: [String] = []
            for _ in 0..<3 {
                let reply = try await server.call("POST", "/v1/email-verifications", json: ["email": email])
                #expect(reply.status == 202)
                answers.append(visible(reply))
            }
            let limited = try await server.call("POST", "/v1/email-verifications", json: ["email": email])
            #expect(limited.status == 429 && limited.code == "rate_limited", "\(email)")
            #expect(Int(limited.headers["retry-after"] ?? "") ?? 0 >= 1)
            answers.append("\(limited.status) \(limited.code ?? "")")
            #expect(answers.count == 4)
        }
        // One at registration and three on request; the fourth request sent nothing.
        #expect(try verificationMails(authd.data, to: "ada@example.com").count == 4)
    }

    /// Verification mails for one account are counted from its own events, so a restart (as
    /// another node of a cluster) does not start the count again: the registration's mail,
    /// two requests, a restart, two more, each answered 202: three mails asked for in all
    /// (the default limit), four with the registration's. Before, each process counted in
    /// its own memory alone, and the restart allowed three more.
    @Test func verificationMailsForOneAccountAreCountedAcrossARestart() async throws {
        let first = try RunningServer()
        let data = first.data
        defer { try? FileManager.default.removeItem(atPath: data) }
        _ = try await first.call(
            "POST", "/v1/users",
            json: [
                "email": "ada@example.com", "password": "a long enough password", "first_name": "A", "last_name": "L",
            ])
        for _ in 0..<2 {
            let reply = try await first.call("POST", "/v1/email-verifications", json: ["email": "ada@example.com"])
            #expect(reply.status == 202)
        }
        first.kill()
        let second = try RunningServer(data: data)
        for _ in 0..<2 {
            let reply = try await second.call("POST", "/v1/email-verifications", json: ["email": "ada@example.com"])
            #expect(reply.status == 202)
        }
        #expect(try verificationMails(data, to: "ada@example.com").count == 4)
    }

    @Test func aClientAddressIsLimitedAsForResetRequests() async throws {
        let authd = try AccountServer(arguments: ["--registration-rate-limit", "2"])
        let server = authd.server
        // Two a minute: the bucket earns a request back every 30 s. Only three calls made within
        // that are judged (on a loaded machine they may be further apart, and the third then
        // rightly passes).
        let started = Date()
        for index in 0..<2 {
            let reply = try await server.call(
                "POST", "/v1/email-verifications", json: ["email": "user\(index)@example.com"])
            #expect(reply.status == 202)
        }
        let limited = try await server.call("POST", "/v1/email-verifications", json: ["email": "other@example.com"])
        if Date().timeIntervalSince(started) < 30 {
            #expect(limited.status == 429 && limited.code == "rate_limited")
        } else {
            #expect(limited.status == 202 || limited.status == 429)
        }
    }
}
