import AccessTokens
import Foundation
import TestSupport
import Testing

/// The checks of an access token that only show when the others pass: `tokens_valid_after`
/// on its own, and the expiry of a token the server has already cached as valid.
@Suite(.ownThreads) struct AccessTokenChecksTests {
    let password = "correct horse battery"

    /// A token issued before a password reset, for the session the user has now, is refused
    /// by `tokens_valid_after` alone: its signature, issuer, audience, lifetime, user and
    /// session all check out (the same claims issued now are accepted).
    ///
    /// authd never issues such a token itself (the reset ends the session, and tokens of the
    /// next one are issued after it), so the test signs it with authd's own key, as an
    /// instance whose clock lags would: a token dated before the reset must not pass.
    @Test func aTokenIssuedBeforeAResetIsRefusedByTokensValidAfterAlone() async throws {
        // The tokens it signs name the issuer "authlog"; the server's must be the same.
        let server = try RunningServer(arguments: ["--issuer", "authlog"])
        let registered = try await server.call(
            "POST", "/v1/users",
            json: ["email": "reset@example.com", "password": password, "first_name": "R", "last_name": "S"])
        let user = try #require(UUID(uuidString: registered.json["id"] as? String ?? ""))
        let old = try await login(server, password)
        let beforeReset = Int64(Date().timeIntervalSince1970) - 2
        #expect(
            try await server.call("POST", "/v1/password-resets", json: ["email": "reset@example.com"]).status == 202)
        let reset = try await server.call(
            "POST", "/v1/password-resets/confirm",
            json: [
                "token": try server.mailedToken("Reset", to: "reset@example.com"), "new_password": "a new passphrase",
            ])
        #expect(reset.status == 204)
        #expect(try await server.call("GET", "/v1/users/me", token: old).status == 401)
        let current = try await login(server, "a new passphrase")
        #expect(try await server.call("GET", "/v1/users/me", token: current).status == 200)
        let session = try #require(UUID(uuidString: try claims(of: current)["sid"] as? String ?? ""))

        let issuer = AccessTokenIssuer(
            issuer: "authlog", audience: "authlog", keys: try SigningKeys.of(dataDirectory: server.data))
        func token(issuedAt: Int64) throws -> String {
            try issuer.sign(
                AccessClaims(
                    issuer: "authlog", audience: "authlog", subject: user, role: "TARGET", sessionID: session,
                    issuedAt: issuedAt, lifetime: 900, tokenID: UUID().uuidString))
        }
        let now = try await server.call(
            "GET", "/v1/users/me", token: try token(issuedAt: Int64(Date().timeIntervalSince1970)))
        #expect(now.status == 200, "the same claims issued now: \(now.status)")
        let dated = try await server.call("GET", "/v1/users/me", token: try token(issuedAt: beforeReset))
        #expect(dated.status == 401 && dated.code == "unauthorized", "issued before the reset: \(dated.status)")
    }

    /// An issuer with characters JSON must escape (`--issuer` takes any text) still makes
    /// tokens the server accepts, and the token names it exactly. Before the claims were
    /// escaped, every token such a server issued was refused as malformed.
    @Test func anIssuerJSONMustEscapeStillMakesTokensThatWork() async throws {
        let odd = #"auth"log\issuer"#
        let server = try RunningServer(arguments: ["--issuer", odd])
        let registered = try await server.call(
            "POST", "/v1/users",
            json: ["email": "odd@example.com", "password": password, "first_name": "O", "last_name": "D"])
        #expect(registered.status == 201)
        let token = try await login(server, password, email: "odd@example.com")
        #expect(try claims(of: token)["iss"] as? String == odd)
        let me = try await server.call("GET", "/v1/users/me", token: token)
        #expect(me.status == 200, "\(me.status)")
    }

    /// The server caches a token it verified; the cached token stops working at its `exp`
    /// all the same (the clock is polled until then, never slept on blindly).
    @Test func aCachedAccessTokenStopsAtItsExpiry() async throws {
        // 60 s: time enough for a login and a call on a machine loaded by a parallel test run.
        let server = try RunningServer(arguments: ["--access-token-ttl", "60"])
        _ = try await server.call(
            "POST", "/v1/users",
            json: ["email": "reset@example.com", "password": password, "first_name": "C", "last_name": "T"])
        let access = try await login(server, password)
        let expires = Double(try #require(claims(of: access)["exp"] as? Int))
        var accepted = 0
        for _ in 0..<3 {
            let reply = try await server.call("GET", "/v1/users/me", token: access)
            // Only a reply that started and ended before exp says the token was valid.
            if Date().timeIntervalSince1970 < expires {
                #expect(reply.status == 200)
                accepted += 1
            }
        }
        try #require(accepted > 0, "the machine took 60 s to make three calls")
        while Date().timeIntervalSince1970 < expires, Date().timeIntervalSince1970 < expires + 10 {
            try await Task.sleep(for: .milliseconds(50))
        }
        let late = try await server.call("GET", "/v1/users/me", token: access)
        #expect(late.status == 401 && late.code == "unauthorized", "at exp: \(late.status)")
    }

    /// Token refresh and reset confirmation each have their own per-address bucket: with
    /// `--rate-limit 1` (one request, refilled over a minute) the second of either is 429 with
    /// Retry-After, and exhausting both leaves logins alone.
    ///
    /// A pair of calls judges the limit only when both fit in the minute the bucket takes to
    /// refill: on a machine loaded by a parallel run the two calls were once more than a minute
    /// apart, and the second rightly passed. Such a pair is tried again once the bucket is full
    /// again (a minute after the pair's last call), so that the next pair starts as the first.
    @Test func refreshAndResetConfirmationAreRateLimitedPerAddress() async throws {
        let server = try RunningServer(arguments: ["--rate-limit", "1"])
        for (path, body) in [
            ("/v1/sessions/refresh", ["refresh_token": "not-a-token"]),
            ("/v1/password-resets/confirm", ["token": "not-a-token", "new_password": "a new passphrase"]),
        ] {
            var judged = false
            for _ in 0..<3 where !judged {
                let start = ContinuousClock.now
                let first = try await server.call("POST", path, json: body)
                #expect(first.status == 401 && first.code == "invalid_token", "\(path): \(first.status)")
                let limited = try await server.call("POST", path, json: body)
                guard ContinuousClock.now - start < .seconds(55) else {
                    // Whatever the second call took, the bucket is full a minute after it.
                    try await Task.sleep(until: ContinuousClock.now.advanced(by: .seconds(61)))
                    continue
                }
                judged = true
                #expect(limited.status == 429 && limited.code == "rate_limited", "\(path): \(limited.status)")
                #expect(Int(limited.headers["retry-after"] ?? "") ?? 0 >= 1, "\(path): \(limited.headers)")
            }
            try #require(judged, "\(path): three pairs of calls each took more than the bucket's minute")
        }
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "nobody@example.com", "password": "whatever it is"])
        #expect(login.status == 401 && login.code == "invalid_credentials")
    }

    /// Every access token authd issues, on login and on rotation, has an id of its own: a
    /// version 4 UUID in lowercase (its bits drawn from the generator's reserve).
    @Test func everyIssuedTokenHasAnIDOfItsOwn() async throws {
        let accounts = try AccountServer()
        _ = try await accounts.register("ids@example.com")
        var ids: [String] = []
        for _ in 0..<3 {
            let session = try await accounts.session("ids@example.com")
            ids.append(try #require(try claims(of: session.access)["jti"] as? String))
            let rotated = try await accounts.server.call(
                "POST", "/v1/sessions/refresh", json: ["refresh_token": session.refresh])
            #expect(rotated.status == 200)
            let access = try #require(rotated.json["access_token"] as? String)
            ids.append(try #require(try claims(of: access)["jti"] as? String))
        }
        #expect(Set(ids).count == ids.count, "\(ids)")
        for id in ids {
            let uuid = try #require(UUID(uuidString: id), "\(id)")
            #expect(id == id.lowercased())
            let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
            #expect(bytes[6] >> 4 == 4 && bytes[8] >> 6 == 0b10, "\(id)")
        }
    }

    func login(_ server: RunningServer, _ password: String, email: String = "reset@example.com") async throws -> String
    {
        let reply = try await server.call("POST", "/v1/sessions", json: ["email": email, "password": password])
        #expect(reply.status == 200, "login: \(reply.status)")
        return try #require(reply.json["access_token"] as? String)
    }
}
