import Foundation
import Synchronization
import TestSupport
import Testing

/// Service credentials against a real authd and the real authctl: made beside the running
/// server, used as bearers within their scopes, named as the actor of what they cause,
/// revoked without a restart, and never stored or shown in clear after `add`.
@Suite(.ownThreads) struct CredentialTests {
    struct Made {
        var id: String
        var secret: String
    }

    /// `authctl credentials add NAME --scopes SCOPES` on `data`: the id and secret it printed.
    static func add(_ name: String, scopes: String, data: String) throws -> Made {
        let added = try runAuthctl(["--data", data, "credentials", "add", name, "--scopes", scopes])
        #expect(added.status == 0, "\(added.stderr)")
        var fields: [String: String] = [:]
        for line in added.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0].dropLast())] = String(parts[1]) }
        }
        return Made(id: try #require(fields["id"]), secret: try #require(fields["secret"]))
    }

    @Test func aCredentialWorksWithinItsScopesAndIsNamedAsTheActor() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let ada = try await authd.register("ada@example.com")
        // Added while authd runs: the next request finds it.
        let billing = try Self.add("billing", scopes: "users:read,stripe:link", data: authd.data)
        #expect(billing.secret.hasPrefix("alk_") && billing.secret.count == 47)
        #expect(billing.secret.dropFirst(4).allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })

        let linked = try await server.call(
            "PUT", "/v1/users/\(ada)/stripe-customer", json: ["stripe_customer_id": "cus_Billing1"],
            token: billing.secret)
        #expect(linked.status == 200, "\(String(decoding: linked.body, as: UTF8.self))")
        let found = try await server.call("GET", "/v1/users?stripe_customer_id=cus_Billing1", token: billing.secret)
        #expect(found.status == 200)
        #expect((found.json["users"] as? [[String: Any]])?.map { $0["id"] as? String } == [ada])
        let read = try await server.call("GET", "/v1/users/\(ada)", token: billing.secret)
        #expect(read.status == 200 && read.json["email"] as? String == "ada@example.com")

        // Out of its scopes: 403 insufficient_scope; ADMIN-only and personal routes: 403 forbidden.
        for (method, path, body) in [
            ("PATCH", "/v1/users/\(ada)", ["first_name": "Eve"]),
            ("DELETE", "/v1/users/\(ada)", nil),
            ("POST", "/v1/users/\(ada)/restore", nil),
            ("GET", "/v1/events", nil),
            ("GET", "/v1/events/stream", nil),
        ] as [(String, String, [String: Any]?)] {
            let reply = try await server.call(method, path, json: body, token: billing.secret)
            #expect(reply.status == 403 && reply.code == "insufficient_scope", "\(method) \(path): \(reply.status)")
            #expect(reply.headers["content-type"] == "application/problem+json")
        }
        for (method, path, body) in [
            ("PUT", "/v1/users/\(ada)/role", ["role": "ADMIN"]),
            ("POST", "/v1/users/\(ada)/erase", nil),
            ("GET", "/v1/users/\(ada)/events", nil),
            ("GET", "/v1/users/\(ada)?as_of=1", nil),
            ("GET", "/v1/users/me", nil),
        ] as [(String, String, [String: Any]?)] {
            let reply = try await server.call(method, path, json: body, token: billing.secret)
            #expect(reply.status == 403 && reply.code == "forbidden", "\(method) \(path): \(reply.status)")
        }

        // The audit trail and the feed name the credential.
        let admin = try await authd.adminToken()
        let trail = try await authd.trail(ada, admin: admin)
        let link = try #require(trail.first { $0["type"] as? String == "StripeCustomerLinked" })
        #expect(link["actor"] as? String == "credential:\(billing.id)")
        let feed = try await server.call("GET", "/v1/events?limit=1000", token: admin)
        let events = feed.json["events"] as? [[String: Any]] ?? []
        #expect(
            events.first { $0["type"] as? String == "StripeCustomerLinked" }?["actor"] as? String
                == "credential:\(billing.id)")
        // The trail as authctl shows it keeps the whole actor.
        let history = try runAuthctl(["--data", authd.data, "history", ada])
        #expect(history.stdout.contains("credential:\(billing.id)"), "\(history.stdout)")

        // Nothing at rest holds the secret; the store is owner-only.
        #expect(filesContaining(Array(billing.secret.utf8), under: authd.data).isEmpty)
        #expect(permissions(of: authd.data + "/credentials") == 0o700)
        #expect(permissions(of: authd.data + "/credentials/\(billing.id).json") == 0o600)
        // The list shows it, never its secret.
        for arguments in [["credentials", "list"], ["credentials", "list", "--json"]] {
            let list = try runAuthctl(["--data", authd.data] + arguments)
            #expect(list.status == 0 && list.stdout.contains(billing.id) && list.stdout.contains("billing"))
            #expect(list.stdout.contains("stripe:link") && list.stdout.contains("users:read"))
            #expect(!list.stdout.contains(billing.secret) && !list.stdout.contains(String(billing.secret.dropFirst(4))))
        }
    }

    @Test func usersWriteChangesProfilesDeletesAndRestoresAndEventsReadReadsTheFeed() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let ada = try await authd.register("ada@example.com")
        let writer = try Self.add("crm-sync", scopes: "users:write", data: authd.data)
        let renamed = try await server.call(
            "PATCH", "/v1/users/\(ada)", json: ["first_name": "Augusta"], token: writer.secret)
        #expect(renamed.status == 200 && renamed.json["first_name"] as? String == "Augusta")
        #expect(try await server.call("DELETE", "/v1/users/\(ada)", token: writer.secret).status == 204)
        #expect(try await server.call("POST", "/v1/users/\(ada)/restore", token: writer.secret).status == 200)
        // users:write alone reads nothing.
        let read = try await server.call("GET", "/v1/users/\(ada)", token: writer.secret)
        #expect(read.status == 403 && read.code == "insufficient_scope")
        let admin = try await authd.adminToken()
        let written = try await authd.trail(ada, admin: admin)
            .filter { ["ProfileUpdated", "UserSoftDeleted", "UserRestored"].contains($0["type"] as? String ?? "") }
        #expect(
            written.map { $0["type"] as? String } == ["ProfileUpdated", "UserSoftDeleted", "UserRestored"],
            "\(written)")
        #expect(written.allSatisfy { $0["actor"] as? String == "credential:\(writer.id)" }, "\(written)")

        // events:read alone: the feed without personal fields; with users:read, with them.
        let publicOnly = try Self.add("feed", scopes: "events:read", data: authd.data)
        let personal = try Self.add("feed-personal", scopes: "events:read,users:read", data: authd.data)
        func registration(_ token: String) async throws -> [String: Any]? {
            let page = try await server.call("GET", "/v1/events?limit=1000", token: token)
            #expect(page.status == 200)
            return (page.json["events"] as? [[String: Any]])?.first {
                $0["type"] as? String == "UserRegistered" && $0["stream"] as? String == ada
            }
        }
        let bare = try #require(try await registration(publicOnly.secret))
        #expect(bare["personal"] == nil && bare["data"] != nil)
        let full = try #require(try await registration(personal.secret))
        #expect((full["personal"] as? [String: Any])?["email"] as? String == "ada@example.com")
    }

    @Test func aRevocationCountsFromTheNextRequestOfARunningAuthd() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let ada = try await authd.register("ada@example.com")
        let kept = try Self.add("kept", scopes: "users:read", data: authd.data)
        let revoked = try Self.add("leaked", scopes: "users:read", data: authd.data)
        #expect(try await server.call("GET", "/v1/users/\(ada)", token: revoked.secret).status == 200)

        let revoke = try runAuthctl(["--data", authd.data, "credentials", "revoke", revoked.id])
        #expect(revoke.status == 0, "\(revoke.stderr)")
        let refused = try await server.call("GET", "/v1/users/\(ada)", token: revoked.secret)
        #expect(refused.status == 401 && refused.code == "unauthorized")
        #expect(refused.headers["content-type"] == "application/problem+json")
        #expect(try await server.call("GET", "/v1/users/\(ada)", token: kept.secret).status == 200)

        let list = try runAuthctl(["--data", authd.data, "credentials", "list", "--json"])
        let rows = list.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(rows.first { $0["id"] as? String == revoked.id }?["revoked_at"] is String)
        #expect(rows.first { $0["id"] as? String == kept.id }?["revoked_at"] is NSNull)
        // Revoking again changes nothing; an unknown id is one line and exit 2.
        #expect(try runAuthctl(["--data", authd.data, "credentials", "revoke", revoked.id]).status == 0)
        #expect(try await server.call("GET", "/v1/users/\(ada)", token: revoked.secret).status == 401)
        let unknown = try runAuthctl(["--data", authd.data, "credentials", "revoke", UUID().uuidString])
        #expect(unknown.status == 2 && unknown.stderr.split(separator: "\n").count == 1)
    }

    @Test func aRevokedCredentialsEventStreamEndsAtItsNextHeartbeat() async throws {
        let authd = try AccountServer(arguments: [
            "--registration-rate-limit", "1000", "--rate-limit", "1000", "--stream-heartbeat", "0.2",
        ])
        let feed = try Self.add("feed", scopes: "events:read", data: authd.data)
        let stream = try EventStreamTests.open(authd.server, token: feed.secret)
        let opening = try #require(stream.receive(until: "event: UserRegistered", timeout: 10))
        #expect(opening.contains("200 OK") && !opening.contains("\"personal\""))
        #expect(stream.receive(until: ": heartbeat\n\n", timeout: 10) != nil)
        #expect(try runAuthctl(["--data", authd.data, "credentials", "revoke", feed.id]).status == 0)
        // The last chunk of a chunked body: the server ended the stream.
        #expect(stream.receive(until: "0\r\n\r\n", timeout: 10) != nil)
    }

    /// Events that keep coming (here a password-reset request every 50 ms, against a heartbeat
    /// of 3 s) leave no quiet spell for a heartbeat: the caller is checked again all the
    /// same, and the revoked credential's stream ends.
    @Test func aRevokedCredentialsEventStreamEndsWhileEventsKeepComing() async throws {
        let authd = try AccountServer(arguments: [
            "--registration-rate-limit", "100000", "--rate-limit", "100000", "--resets-per-account", "100000",
            "--stream-heartbeat", "3",
        ])
        _ = try await authd.register("busy@example.com")
        let feed = try Self.add("feed", scopes: "events:read", data: authd.data)
        let stream = try EventStreamTests.open(authd.server, token: feed.secret)
        #expect(stream.receive(until: "event: UserRegistered", timeout: 10) != nil)
        // On a thread of its own: the test's reads below block theirs, and on a busy run every
        // thread of the concurrency pool may be blocked so, which would stop a task's traffic.
        let port = authd.server.port
        let stop = StopFlag()
        Thread {
            while !stop.raised.load(ordering: .relaxed) {
                _ = try? exchange(
                    port: port, from: "127.0.0.1", "POST", "/v1/password-resets", json: ["email": "busy@example.com"])
                Thread.sleep(forTimeInterval: 0.05)
            }
        }.start()
        defer { stop.raised.store(true, ordering: .relaxed) }
        #expect(stream.receive(until: "event: PasswordResetRequested", timeout: 30) != nil)
        #expect(try runAuthctl(["--data", authd.data, "credentials", "revoke", feed.id]).status == 0)
        // The last chunk of a chunked body: the server ended the stream.
        #expect(stream.receive(until: "0\r\n\r\n", timeout: 20) != nil, "the stream went on after the revocation")
    }

    @Test func forgedAndGarbledBearersAre401() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let ada = try await authd.register("ada@example.com")
        let made = try Self.add("real", scopes: "users:read", data: authd.data)
        var flipped = Array(made.secret)
        flipped[20] = flipped[20] == "A" ? "B" : "A"
        let random = "alk_" + String(repeating: "x", count: 43)
        for bearer in [
            String(flipped), random, "alk_", "alk_garbled!", made.secret + "A", String(made.secret.dropLast()),
        ] {
            let reply = try await server.call("GET", "/v1/users/\(ada)", token: bearer)
            #expect(reply.status == 401 && reply.code == "unauthorized", "\(bearer): \(reply.status)")
        }
        #expect(try await server.call("GET", "/v1/users/\(ada)", token: made.secret).status == 200)
    }

    @Test func authctlRefusesUnknownScopesAndBadNamesInOneLine() throws {
        let data = NSTemporaryDirectory() + "credentials-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: data) }
        for scopes in ["users:read,users:admin", "", "admin"] {
            let refused = try runAuthctl(["--data", data, "credentials", "add", "x", "--scopes", scopes])
            #expect(refused.status == 64, "\(scopes): \(refused.stderr)")
            #expect(refused.stderr.split(separator: "\n").count == 1 && refused.stderr.contains("scope"))
        }
        let badName = try runAuthctl(["--data", data, "credentials", "add", "has space", "--scopes", "users:read"])
        #expect(badName.status == 2 && badName.stderr.split(separator: "\n").count == 1)
        let list = try runAuthctl(["--data", data, "credentials", "list"])
        #expect(list.status == 0 && list.stdout.isEmpty)
    }
}

/// Tells a thread of a test to stop.
final class StopFlag: Sendable {
    let raised = Atomic<Bool>(false)
}
