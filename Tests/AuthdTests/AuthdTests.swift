import AccessTokens
import Foundation
import TestSupport
import Testing

@Suite(.ownThreads) struct AuthdTests {
    let password = "correct horse battery"

    func login(_ server: RunningServer, _ email: String, _ password: String) async throws -> (
        access: String, refresh: String
    ) {
        let reply = try await server.call("POST", "/v1/sessions", json: ["email": email, "password": password])
        #expect(reply.status == 200, "login \(email): \(reply.status) \(String(decoding: reply.body, as: UTF8.self))")
        #expect(reply.headers["cache-control"] == "no-store" && reply.headers["pragma"] == "no-cache")
        return (reply.json["access_token"] as? String ?? "", reply.json["refresh_token"] as? String ?? "")
    }

    @Test func theWholeLifeOfAUser() async throws {
        let server = try RunningServer(arguments: ["--refresh-grace", "0"]) { data throws in
            #expect(
                try authctl(
                    ["--data", data, "create-admin", "--email", "root@example.com"], input: "an admin passphrase\n")
                    == 0)
        }
        // Register, verify the email from the Maildir.
        let registered = try await server.call(
            "POST", "/v1/users",
            json: ["email": "Life@Example.com", "password": password, "first_name": "Liv", "last_name": "Long"])
        #expect(registered.status == 201 && registered.json["role"] as? String == "TARGET")
        #expect(registered.json["password_hash"] == nil && registered.json["refresh_token_hash"] == nil)
        let userID = try #require(registered.json["id"] as? String)
        let verify = try await server.call(
            "POST", "/v1/email-verifications/confirm",
            json: ["token": try server.mailedToken("Confirm", to: "Life@Example.com")])
        #expect(verify.status == 204)

        // Log in, rotate three times, replay an old refresh token: the session is revoked.
        var session = try await login(server, "life@example.com", password)
        let me = try await server.call("GET", "/v1/users/me", token: session.access)
        #expect(me.status == 200 && me.json["email_verified_at"] is String)
        var refreshTokens = [session.refresh]
        for _ in 0..<3 {
            let rotated = try await server.call(
                "POST", "/v1/sessions/refresh", json: ["refresh_token": refreshTokens.last!])
            #expect(rotated.status == 200)
            // RFC 6749, section 5.1: no cache may keep an answer that carries tokens.
            #expect(rotated.headers["cache-control"] == "no-store" && rotated.headers["pragma"] == "no-cache")
            refreshTokens.append(rotated.json["refresh_token"] as? String ?? "")
        }
        let replay = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": refreshTokens[1]])
        #expect(replay.status == 401 && replay.code == "invalid_token")
        let newest = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": refreshTokens.last!])
        #expect(newest.status == 401)
        #expect(try await server.call("GET", "/v1/users/me", token: session.access).status == 401)

        // Reset the password through the Maildir; the old refresh token dies with it.
        session = try await login(server, "life@example.com", password)
        #expect(try await server.call("POST", "/v1/password-resets", json: ["email": "life@example.com"]).status == 202)
        #expect(
            try await server.call("POST", "/v1/password-resets", json: ["email": "nobody@example.com"]).status == 202)
        let reset = try await server.call(
            "POST", "/v1/password-resets/confirm",
            json: [
                "token": try server.mailedToken("Reset", to: "Life@Example.com"),
                "new_password": "a whole new passphrase",
            ])
        #expect(reset.status == 204)
        #expect(
            try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": session.refresh]).status
                == 401)
        let oldPassword = try await server.call(
            "POST", "/v1/sessions", json: ["email": "life@example.com", "password": password])
        #expect(oldPassword.status == 401 && oldPassword.code == "invalid_credentials")
        session = try await login(server, "life@example.com", "a whole new passphrase")

        // An ADMIN makes the user a MANAGER; a MANAGER cannot change roles.
        let admin = try await login(server, "root@example.com", "an admin passphrase")
        let promoted = try await server.call(
            "PUT", "/v1/users/\(userID)/role", json: ["role": "MANAGER"], token: admin.access)
        #expect(promoted.status == 200 && promoted.json["role"] as? String == "MANAGER")
        // The role change ended the user's session.
        #expect(try await server.call("GET", "/v1/users/me", token: session.access).status == 401)
        let manager = try await login(server, "life@example.com", "a whole new passphrase")
        let adminID = try #require(
            try await server.call("GET", "/v1/users/me", token: admin.access).json["id"] as? String)
        let refused = try await server.call(
            "PUT", "/v1/users/\(adminID)/role", json: ["role": "TARGET"], token: manager.access)
        #expect(refused.status == 403 && refused.code == "forbidden")
        let page = try await server.call("GET", "/v1/users?role=MANAGER&limit=10", token: manager.access)
        #expect(page.status == 200 && (page.json["users"] as? [[String: Any]])?.count == 1)

        // Soft-delete: login refused; restore: login works again.
        #expect(try await server.call("DELETE", "/v1/users/\(userID)", token: admin.access).status == 204)
        let deleted = try await server.call(
            "POST", "/v1/sessions", json: ["email": "life@example.com", "password": "a whole new passphrase"])
        #expect(deleted.status == 401 && deleted.code == "invalid_credentials")
        #expect(try await server.call("POST", "/v1/users/\(userID)/restore", token: admin.access).status == 200)
        _ = try await login(server, "life@example.com", "a whole new passphrase")

        // The audit trail and time travel (who may call them: AuthorizationMatrixTests).
        let trail = try await server.call("GET", "/v1/users/\(userID)/events", token: admin.access)
        let events = trail.json["events"] as? [[String: Any]] ?? []
        let types = events.compactMap { $0["type"] as? String }
        #expect(types.contains("RefreshTokenReuseDetected") && types.contains("UserRestored"))
        // As of the position just before her promotion she existed, and was a TARGET.
        let promotion = try #require(events.first { $0["type"] as? String == "RoleChanged" }?["position"] as? Int)
        let then = try await server.call("GET", "/v1/users/\(userID)?as_of=\(promotion - 1)", token: admin.access)
        #expect(then.status == 200 && then.json["role"] as? String == "TARGET", "\(then.status)")
        #expect((then.json["email"] as? String)?.lowercased() == "life@example.com")
        let now = try await server.call("GET", "/v1/users/\(userID)?as_of=\(promotion)", token: admin.access)
        #expect(now.status == 200 && now.json["role"] as? String == "MANAGER", "\(now.status)")
        // Before her first event she did not exist.
        let first = try #require(events.first?["position"] as? Int)
        let before = try await server.call("GET", "/v1/users/\(userID)?as_of=\(first - 1)", token: admin.access)
        #expect(before.status == 404 && before.code == "not_found")
    }

    @Test func forgedExpiredForeignAndUnsignedTokensAreRefused() async throws {
        // The tokens it forges name the issuer "authlog"; the server's must be the same.
        let server = try RunningServer(arguments: ["--issuer", "authlog"])
        _ = try await server.call(
            "POST", "/v1/users",
            json: ["email": "tok@example.com", "password": password, "first_name": "T", "last_name": "K"])
        let good = try await login(server, "tok@example.com", password)
        #expect(try await server.call("GET", "/v1/users/me", token: good.access).status == 200)
        let parts = good.access.split(separator: ".").map(String.init)
        let payload = try #require(
            Data(
                base64Encoded: parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(
                    of: "_", with: "/"
                ).padding(toLength: (parts[1].count + 3) / 4 * 4, withPad: "=", startingAt: 0)))
        let claims = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
        let keys = AccessTokenIssuer(
            issuer: "authlog", audience: "authlog", keys: try SigningKeys.of(dataDirectory: server.data))
        let now = Int64(Date().timeIntervalSince1970)
        func signed(audience: String = "authlog", issuedAt: Int64 = now, lifetime: Int64 = 900) throws -> String {
            let issuer = AccessTokenIssuer(issuer: "authlog", audience: audience, keys: keys.keys)
            return try issuer.sign(
                AccessClaims(
                    issuer: "authlog", audience: audience, subject: UUID(uuidString: claims["sub"] as! String)!,
                    role: "ADMIN", sessionID: UUID(uuidString: claims["sid"] as! String)!, issuedAt: issuedAt,
                    lifetime: lifetime, tokenID: "test"))
        }
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + "."
        let forged = parts[0] + "." + parts[1] + "." + String(parts[2].reversed())
        for (name, token) in [
            ("alg none", none), ("forged signature", forged), ("expired", try signed(issuedAt: now - 2_000)),
            ("wrong audience", try signed(audience: "someone-else")), ("garbage", "not.a.token"),
        ] {
            let reply = try await server.call("GET", "/v1/users/me", token: token)
            #expect(reply.status == 401 && reply.code == "unauthorized", "\(name)")
        }
        #expect(try await server.call("GET", "/v1/users/me").status == 401)
        let jwks = try await server.call("GET", "/.well-known/jwks.json")
        #expect((jwks.json["keys"] as? [[String: Any]])?.first?["crv"] as? String == "P-256")
        #expect((jwks.json["keys"] as? [[String: Any]])?.first?["d"] == nil)
    }

    @Test func badBodiesGetA400ThatSaysWhatWasWrong() async throws {
        // Eleven registration attempts: more than the default limit of ten a minute allows.
        let server = try RunningServer(arguments: ["--registration-rate-limit", "100"])
        let cases: [(String, Data, String, String)] = [
            ("wrong content type", Data("{}".utf8), "text/plain", "content type"),
            ("malformed", Data("{\"email\": ".utf8), "application/json", "malformed JSON"),
            (
                "duplicate keys", Data(#"{"email":"a@b.co","email":"c@d.co"}"#.utf8), "application/json",
                "duplicate field 'email'"
            ),
            (
                "unknown field", Data(#"{"email":"a@b.co","role":"ADMIN"}"#.utf8), "application/json",
                "unknown field 'role'"
            ),
            ("NUL byte", Data([0x7B, 0x22, 0x65, 0x00, 0x22, 0x7D]), "application/json", "NUL"),
            (
                "escaped NUL", Data(#"{"email":"a\u0000@b.co","password":"x","first_name":"a","last_name":"b"}"#.utf8),
                "application/json", "NUL"
            ),
            ("invalid UTF-8", Data([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]), "application/json", "UTF-8"),
            (
                "wrong type", Data(#"{"email":42,"password":"x","first_name":"a","last_name":"b"}"#.utf8),
                "application/json", "must be a string"
            ),
            ("not an object", Data("[1,2]".utf8), "application/json", "JSON object"),
        ]
        for (name, body, type, expected) in cases {
            let reply = try await server.call("POST", "/v1/users", raw: body, contentType: type)
            #expect(reply.status == 400, "\(name): \(reply.status)")
            #expect(reply.headers["content-type"] == "application/problem+json", "\(name)")
            #expect((reply.json["detail"] as? String)?.contains(expected) == true, "\(name): \(reply.json)")
        }
        let big = try await server.call("POST", "/v1/users", raw: Data(repeating: 0x61, count: 70_000))
        #expect(big.status == 413 && big.code == "payload_too_large")
        let weak = try await server.call(
            "POST", "/v1/users",
            json: ["email": "w@example.com", "password": "short", "first_name": "W", "last_name": "K"])
        #expect(weak.status == 422 && weak.code == "weak_password")
    }

    @Test func requestIDsBecomeCorrelationIDsAndSIGTERMStopsGracefully() async throws {
        let server = try RunningServer()
        let reply = try await server.call(
            "POST", "/v1/users",
            json: ["email": "rid@example.com", "password": password, "first_name": "R", "last_name": "I"],
            headers: ["X-Request-ID": "req-test-42"])
        let correlation = reply.headers["x-request-id"] ?? ""
        #expect(reply.status == 201 && correlation.hasSuffix(";client=req-test-42"))
        let first = try await server.call("GET", "/healthz").headers["x-request-id"] ?? ""
        let second = try await server.call("GET", "/healthz").headers["x-request-id"] ?? ""
        #expect(first.count > 13 && second.count > 13 && first != second)
        server.process.terminate()  // SIGTERM
        server.process.waitForExit()
        #expect(server.process.terminationStatus == 0)
        #expect(server.remainingOutput().contains("authd stopped"))
        let history = try authctlOutput(["--data", server.data, "history", "rid@example.com", "--json"])
        #expect(history.contains("\"correlation_id\":\"\(correlation)\""))
    }

    /// Each ES256 access token is counted once on /metrics, under the nonce its signature
    /// took: one made ahead of time (in idle CPU time) or one made as it signed.
    @Test func everyES256SignatureIsCountedByItsNonce() async throws {
        let server = try RunningServer()
        func signatures() async throws -> Int {
            let metrics = String(decoding: try await server.call("GET", "/metrics").body, as: UTF8.self)
            let counts = try ["made_ahead", "made_then"].map { nonce in
                let prefix = "authlog_es256_signatures_total{nonce=\"\(nonce)\"} "
                let line = try #require(metrics.split(separator: "\n").first { $0.hasPrefix(prefix) })
                return try #require(Int(line.dropFirst(prefix.count)))
            }
            #expect(metrics.contains("authlog_es256_nonces_ready "))
            return counts.reduce(0, +)
        }
        let registered = try await server.call(
            "POST", "/v1/users",
            json: ["email": "nonce@example.com", "password": password, "first_name": "N", "last_name": "O"])
        #expect(registered.status == 201)
        let before = try await signatures()
        let session = try await login(server, "nonce@example.com", password)
        let rotated = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": session.refresh])
        #expect(rotated.status == 200)
        #expect(try await signatures() - before == 2)
        // The rotated token is one the service accepts.
        let token = try #require(rotated.json["access_token"] as? String)
        #expect(try await server.call("GET", "/v1/users/me", token: token).status == 200)
    }

    @Test func loginsBeyondTheRateLimitGet429WithRetryAfter() async throws {
        let server = try RunningServer(arguments: ["--rate-limit", "3"])
        // Sent together, so that they reach the limiter within a moment of each other however
        // long each login's password hash takes on a busy machine (the bucket refills 1 in 20 s).
        let port = server.port
        let replies = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for _ in 0..<5 { group.addTask { try await Self.failedLogin(port: port) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let refused = replies.filter { $0.0 == 429 }
        #expect(replies.filter { $0.0 == 401 }.count >= 3)
        #expect(refused.count >= 1 && refused.count + replies.filter { $0.0 == 401 }.count == 5)
        #expect(refused.allSatisfy { Int($0.1 ?? "") ?? 0 >= 1 })
        let metrics = String(decoding: try await server.call("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"authlog_http_requests_total{method="POST",route="/v1/sessions",status="429"}"#))
        #expect(metrics.contains("authlog_kdf_queue_depth"))
        // Every commit falls in the batch-size histogram's last bucket.
        let commits = metrics.split(separator: "\n").first { $0.hasPrefix("authlog_commits_total ") }?.split(
            separator: " "
        ).last
        #expect(commits != nil)
        #expect(metrics.contains("authlog_group_commit_batch_appends_bucket{le=\"+Inf\"} \(commits ?? "")\n"))
    }

    /// A login with a wrong password: the status and the Retry-After header.
    static func failedLogin(port: Int) async throws -> (Int, String?) {
        let reply = try await LoopbackRequest(
            "POST", "/v1/sessions", headers: [("Content-Type", "application/json")],
            body: Data(#"{"email":"x@example.com","password":"whatever it is"}"#.utf8)
        ).send(port: port)
        return (reply.status, reply.headers["retry-after"])
    }
}
