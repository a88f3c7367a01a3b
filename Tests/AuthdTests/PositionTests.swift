import Foundation
import TestSupport
import Testing

/// Read-your-writes on the embedded log, against a real authd: every write answers with the
/// log position it reached (`Authlog-Position`), and a read naming a position
/// (`Authlog-Min-Position`) is served once the read model has it, or refused with 503.
@Suite(.ownThreads) struct PositionTests {
    static let adminPassword = "an admin passphrase"
    let password = "correct horse battery"

    /// authd over a data directory holding one ADMIN (root@example.com).
    func serverWithAdmin(_ arguments: [String] = []) throws -> RunningServer {
        try RunningServer(arguments: arguments) { data throws in
            #expect(
                try authctl(
                    ["--data", data, "create-admin", "--email", "root@example.com"], input: Self.adminPassword + "\n")
                    == 0)
        }
    }

    /// The events of the log by position: (type, stream), from `authctl export` beside authd.
    func eventsByPosition(_ data: String) throws -> [UInt64: (type: String, stream: String)] {
        var events: [UInt64: (type: String, stream: String)] = [:]
        for line in try exportLines(data) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard object["kind"] as? String == "event", let position = object["position"] as? Int else { continue }
            events[UInt64(position)] = (object["type"] as? String ?? "", object["stream"] as? String ?? "")
        }
        return events
    }

    /// The position a reply names, if it has one that parses.
    func position(_ reply: RunningServer.Reply) -> UInt64? {
        reply.headers["authlog-position"].flatMap { UInt64($0) }
    }

    func login(_ server: RunningServer, _ email: String, _ password: String) async throws -> RunningServer.Reply {
        try await server.call("POST", "/v1/sessions", json: ["email": email, "password": password])
    }

    @Test func everyWriteNamesThePositionOfTheEventItWrote() async throws {
        let server = try serverWithAdmin(["--refresh-grace", "0"])
        let admin = try await login(server, "root@example.com", Self.adminPassword)
        #expect(admin.status == 200)
        let adminToken = try #require(admin.json["access_token"] as? String)
        // (what was done, its reply, the types of the events it must have written: none, or
        // the last of them, when it wrote nothing)
        var writes: [(String, RunningServer.Reply, [String])] = []
        writes.append(("admin login", admin, ["LoginSucceeded"]))

        let registered = try await server.call(
            "POST", "/v1/users",
            json: ["email": "pos@example.com", "password": password, "first_name": "Po", "last_name": "Sition"])
        let user = try #require(registered.json["id"] as? String)
        writes.append(("register", registered, ["UserRegistered", "EmailVerificationRequested"]))
        writes.append(
            (
                "confirm the email",
                try await server.call(
                    "POST", "/v1/email-verifications/confirm",
                    json: ["token": try server.mailedToken("Confirm", to: "pos@example.com")]), ["EmailVerified"]
            ))
        writes.append(
            ("wrong password", try await login(server, "pos@example.com", "not the password"), ["LoginFailed"]))
        writes.append(("login as nobody", try await login(server, "nobody@example.com", "not the password"), []))
        let session = try await login(server, "pos@example.com", password)
        writes.append(("login", session, ["LoginSucceeded"]))
        let access = try #require(session.json["access_token"] as? String)
        let firstRefresh = try #require(session.json["refresh_token"] as? String)
        writes.append(
            (
                "patch",
                try await server.call("PATCH", "/v1/users/\(user)", json: ["first_name": "Pos"], token: access),
                ["ProfileUpdated"]
            ))
        let rotated = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": firstRefresh])
        writes.append(("refresh", rotated, ["RefreshTokenRotated"]))
        writes.append(
            (
                "reuse of a rotated refresh token",
                try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": firstRefresh]),
                ["RefreshTokenReuseDetected"]
            ))
        writes.append(
            (
                "reset request",
                try await server.call("POST", "/v1/password-resets", json: ["email": "pos@example.com"]),
                ["PasswordResetRequested"]
            ))
        writes.append(
            (
                "reset request for nobody",
                try await server.call("POST", "/v1/password-resets", json: ["email": "nobody@example.com"]), []
            ))
        writes.append(
            (
                "reset confirm",
                try await server.call(
                    "POST", "/v1/password-resets/confirm",
                    json: [
                        "token": try server.mailedToken("Reset", to: "pos@example.com"),
                        "new_password": "a brand new passphrase",
                    ]), ["PasswordResetCompleted"]
            ))
        let again = try await login(server, "pos@example.com", "a brand new passphrase")
        writes.append(("login after the reset", again, ["LoginSucceeded"]))
        writes.append(
            (
                "logout",
                try await server.call(
                    "DELETE", "/v1/sessions/current", token: again.json["access_token"] as? String ?? ""),
                ["LoggedOut"]
            ))
        let role = try await server.call(
            "PUT", "/v1/users/\(user)/role", json: ["role": "MANAGER"], token: adminToken)
        writes.append(("role", role, ["RoleChanged"]))
        writes.append(
            (
                "same role again",
                try await server.call("PUT", "/v1/users/\(user)/role", json: ["role": "MANAGER"], token: adminToken),
                []
            ))
        writes.append(
            ("delete", try await server.call("DELETE", "/v1/users/\(user)", token: adminToken), ["UserSoftDeleted"]))
        writes.append(
            (
                "restore", try await server.call("POST", "/v1/users/\(user)/restore", token: adminToken),
                ["UserRestored"]
            ))
        writes.append(
            ("erase", try await server.call("POST", "/v1/users/\(user)/erase", token: adminToken), ["UserErased"]))
        writes.append(
            ("erase again", try await server.call("POST", "/v1/users/\(user)/erase", token: adminToken), []))

        // Answers that must not name a position, since it would tell whether the address has
        // an account: a wrong password records LoginFailed where an unknown address records
        // nothing, and a reset request appends only for a known address.
        let unpositioned: Set = [
            "wrong password", "login as nobody", "reset request", "reset request for nobody",
        ]
        let events = try eventsByPosition(server.data)
        var previous: UInt64 = 0
        for (index, (what, reply, types)) in writes.enumerated() {
            let body = String(decoding: reply.body, as: UTF8.self)
            if unpositioned.contains(what) {
                #expect(reply.headers["authlog-position"] == nil, "\(what) names a position: \(reply.headers)")
                let written = (previous + 1..<previous + 1 + UInt64(types.count)).map { events[$0]?.type ?? "none" }
                #expect(written == types, "\(what): after \(previous) the log holds \(written)")
                previous += UInt64(types.count)
                continue
            }
            guard let at = position(reply) else {
                Issue.record("\(what): \(reply.status) without Authlog-Position: \(body)")
                continue
            }
            if types.isEmpty {
                // Nothing written: the head it answered at, which is the previous write's.
                #expect(at == previous, "\(what) wrote nothing but names \(at), not the head \(previous)")
            } else {
                // Exactly its events, after every earlier write's, the last of them at `at`
                // (the first write only ends there: the ADMIN's creation came before it).
                let first = index == 0 ? at + 1 - UInt64(types.count) : previous + 1
                #expect(at >= first, "\(what): position \(at) after \(previous)")
                let written = at >= first ? (first...at).map { events[$0]?.type ?? "none" } : []
                #expect(written == types, "\(what): positions \(first) to \(at) hold \(written)")
                let streams = Set((first...max(first, at)).compactMap { events[$0]?.stream })
                #expect(streams.count == 1, "\(what): one stream, not \(streams)")
            }
            previous = at
        }
        #expect(events.keys.max() == previous, "the last write names the head")
        let rejections = writes.filter { ["wrong password", "reuse of a rotated refresh token"].contains($0.0) }
        #expect(rejections.map(\.1.status) == [401, 401], "the rejections that record an event")
    }

    @Test func aReadAtAWritesPositionIsServedAndOneAheadIsRefusedAtOnce() async throws {
        // A long bound: a refusal that came back well within it did not wait for it.
        let server = try serverWithAdmin(["--min-position-wait", "60"])
        let admin = try await login(server, "root@example.com", Self.adminPassword)
        let token = try #require(admin.json["access_token"] as? String)
        let registered = try await server.call(
            "POST", "/v1/users",
            json: ["email": "ryw@example.com", "password": password, "first_name": "Rea", "last_name": "Der"])
        let at = try #require(position(registered))
        let user = try #require(registered.json["id"] as? String)
        let reads = [
            "/v1/users/me", "/v1/users/\(user)", "/v1/users?role=TARGET", "/v1/users?email=ryw@example.com",
            "/v1/users/\(user)/events", "/v1/users/\(user)?as_of=\(at)",
        ]
        for path in reads {
            for minimum in [0, at] {
                let reply = try await server.call(
                    "GET", path, token: token, headers: ["Authlog-Min-Position": String(minimum)])
                #expect(reply.status == 200, "\(path) at \(minimum): \(reply.status) \(reply.code ?? "")")
            }
            let clock = ContinuousClock()
            let start = clock.now
            let ahead = try await server.call(
                "GET", path, token: token, headers: ["Authlog-Min-Position": String(at + 1_000)])
            let took = clock.now - start
            #expect(ahead.status == 503 && ahead.code == "position_not_reached", "\(path): \(ahead.status)")
            #expect(ahead.headers["retry-after"] == "1")
            #expect(ahead.headers["content-type"] == "application/problem+json")
            #expect(took < .seconds(60), "\(path): a position beyond the head waited \(took)")
        }
        // The read that needs the write's position to authenticate: the login's own session.
        let login = try await login(server, "ryw@example.com", password)
        let me = try await server.call(
            "GET", "/v1/users/me", token: login.json["access_token"] as? String,
            headers: ["Authlog-Min-Position": String(try #require(position(login)))])
        #expect(me.status == 200 && me.json["last_login_at"] is String)
    }

    @Test func aMalformedMinimumPositionIsABadRequest() async throws {
        let server = try serverWithAdmin()
        let token = try #require(
            try await login(server, "root@example.com", Self.adminPassword).json["access_token"] as? String)
        for value in ["abc", "-1", "+5", "1.0", "0x10", "18446744073709551616", "99999999999999999999999", "1,2", "١"] {
            let reply = try await server.call(
                "GET", "/v1/users/me", token: token, headers: ["Authlog-Min-Position": value])
            #expect(reply.status == 400 && reply.code == "bad_request", "\(value): \(reply.status)")
            #expect(reply.headers["content-type"] == "application/problem+json")
        }
        let largest = try await server.call(
            "GET", "/v1/users/me", token: token, headers: ["Authlog-Min-Position": String(UInt64.max)])
        #expect(largest.status == 503 && largest.code == "position_not_reached")
        // Checked before the token: even an unauthenticated read learns its header is wrong.
        #expect(
            try await server.call("GET", "/v1/users/me", headers: ["Authlog-Min-Position": "x"]).status == 400)
    }

    @Test func theWaitIsBoundedByAFlagThatMustBeSensible() throws {
        let data = NSTemporaryDirectory() + "authd-position-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        for value in ["-1", "61", "soon"] {
            let started = try StartedAuthd(data: data, arguments: ["--min-position-wait", value])
            defer { started.stop() }
            #expect(started.port == 0 && started.status == 64, "--min-position-wait \(value): \(started.output)")
        }
    }
}
