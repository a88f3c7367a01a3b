import AuthDomain
import Foundation
import TestSupport
import Testing

/// The console's sessions against a real authd, over raw connections (no cookie store in the
/// way): what a client without a password can do to them.
@Suite(.ownThreads) struct ConsoleSessionTests {
    /// The value the reply sets for the cookie `name` (by default the signed-in session's), if any.
    static func cookie(of reply: RunningServer.Reply, _ name: String = "authlog_console") -> String? {
        let field = reply.headers["set-cookie"]?.split(separator: "\n").first { $0.hasPrefix(name + "=") }
        return field.map { String($0.dropFirst(name.count + 1).prefix { $0 != ";" }) }
    }

    /// Signs in with the console's form as a browser would; returns the signed-in cookie.
    static func signIn(_ server: RunningServer, email: String, password: String) throws -> String {
        try #require(cookie(of: try signInReply(server, email: email, password: password)))
    }

    /// The CSRF token a console page's forms carry.
    static func csrfToken(in page: RunningServer.Reply) throws -> String {
        let text = String(decoding: page.body, as: UTF8.self)
        let marker = #"name="csrf" value=""#
        return try #require(text.range(of: marker).map { String(text[$0.upperBound...].prefix { $0 != "\"" }) })
    }

    /// The answer to a sign-in with the console's form, made as a browser would; its status
    /// is expected to be `status`. The cookies' names start with `prefix` (`__Host-` behind an
    /// https public URL).
    static func signInReply(
        _ server: RunningServer, email: String, password: String, expecting status: Int = 303, prefix: String = ""
    ) throws -> RunningServer.Reply {
        let form = try exchange(port: server.port, from: "127.0.0.1", "GET", "/admin/login")
        let waiting = try #require(cookie(of: form, prefix + "authlog_console_login"))
        let csrf = try csrfToken(in: form)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let body = [("email", email), ("password", password), ("csrf", csrf)]
            .map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.1")
        try connection.send(
            "POST /admin/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: \(prefix)authlog_console_login=\(waiting)\r\n"
                + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
                + body)
        let reply = try parseResponse(try #require(connection.readUntilClosed(timeout: 30)))
        #expect(reply.status == status, "sign-in: \(reply.status)")
        return reply
    }

    /// A signed-in console session ends once `--console-session-minutes` have passed since the
    /// sign-in, though it is used all the time (never idle).
    @Test func aBusySessionEndsAtItsLifetime() async throws {
        let (server, _) = try await EventFeedTests.serverWithAdmin(arguments: ["--console-session-minutes", "0.05"])
        // The session opens between these two instants.
        let beforeSignIn = ContinuousClock.now
        let admin = try Self.signIn(server, email: "root@example.com", password: EventFeedTests.adminPassword)
        let signedIn = ContinuousClock.now
        let page = "GET /admin/users HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: authlog_console=\(admin)\r\n\r\n"
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.1")
        var statuses: [Int] = []
        // Used every 100 ms: the idle timeout (15 minutes) is never near. 3 s after the sign-in
        // the lifetime is up; 60 s after it (a loaded machine answers slowly) is the limit for
        // seeing it end.
        while ContinuousClock.now - signedIn < .seconds(60), statuses.last != 303 {
            try connection.send(page)
            let reply = try parseResponse(try #require(connection.readResponse(timeout: 30)))
            statuses.append(reply.status)
            if reply.status == 303 { #expect(reply.headers["location"]?.hasSuffix("/admin/login") == true) }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(statuses.first == 200, "\(statuses)")
        #expect(statuses.last == 303, "the session outlived its lifetime: \(statuses.count) answers")
        #expect(ContinuousClock.now - beforeSignIn >= .seconds(3), "the session ended before its lifetime")
    }

    /// The account's audit trail (`authctl history --json`), read beside the running authd.
    static func history(_ server: RunningServer, _ email: String) throws -> [[String: Any]] {
        try authctlOutput(["--data", server.data, "history", email, "--json"]).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Signs the admin in with the console's form; returns their audit trail's `LoginSucceeded`
    /// entry for it.
    static func consoleSignIn(_ server: RunningServer) throws -> [String: Any] {
        _ = try signIn(server, email: "root@example.com", password: EventFeedTests.adminPassword)
        let entry = try #require(
            try history(server, "root@example.com").last { $0["type"] as? String == "LoginSucceeded" })
        _ = try #require(entry["position"] as? Int)
        return entry
    }

    /// The admin's audit trail after `entry`.
    static func adminHistory(_ server: RunningServer, after entry: [String: Any]) throws -> [[String: Any]] {
        let position = entry["position"] as? Int ?? 0
        return try history(server, "root@example.com").filter { ($0["position"] as? Int ?? 0) > position }
    }

    /// When a console session ends (here at its lifetime, never signed out), the log session
    /// its sign-in started ends too: `LoggedOut`, the service as actor. Before, the log showed
    /// the admin's session open until its own lifetime, with a refresh token nobody held.
    @Test func aConsoleSessionThatEndsEndsItsLogSession() async throws {
        let (server, _) = try await EventFeedTests.serverWithAdmin(arguments: ["--console-session-minutes", "0.05"])
        let beforeSignIn = ContinuousClock.now
        let signIn = try Self.consoleSignIn(server)
        // The lifetime is 3 s and the sweep runs every second; 60 s is the limit on a loaded machine.
        var loggedOut: [String: Any]?
        while loggedOut == nil, ContinuousClock.now - beforeSignIn < .seconds(60) {
            loggedOut = try Self.adminHistory(server, after: signIn).first { $0["type"] as? String == "LoggedOut" }
            if loggedOut == nil { try await Task.sleep(for: .milliseconds(200)) }
        }
        let event = try #require(loggedOut, "the console session's log session was never ended")
        #expect(event["actor"] as? String == "system")
        // Recorded once the console session's lifetime was up, not before.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let signedInAt = try #require((signIn["recorded_at"] as? String).flatMap(formatter.date(from:)))
        let endedAt = try #require((event["recorded_at"] as? String).flatMap(formatter.date(from:)))
        #expect(endedAt.timeIntervalSince(signedInAt) >= 3, "ended \(endedAt.timeIntervalSince(signedInAt)) s after")
    }

    /// A graceful stop signs everyone out of the console (its sessions live in memory), and
    /// ends their log sessions before the log closes.
    @Test func aGracefulStopEndsTheConsolesLogSessions() async throws {
        let (server, _) = try await EventFeedTests.serverWithAdmin()
        let signIn = try Self.consoleSignIn(server)
        server.process.terminate()  // SIGTERM
        server.process.waitForExit()
        #expect(server.process.terminationStatus == 0)
        let after = try Self.adminHistory(server, after: signIn)
        #expect(after.map { $0["type"] as? String } == ["LoggedOut"], "\(after)")
        #expect(after.first?["actor"] as? String == "system")
    }

    /// A crash (SIGKILL) gives authd no chance to end the console's log sessions; it ends them
    /// as it starts again, from the list it keeps in the data directory (0600), which is empty
    /// afterwards, and removes a save's leftover temporary file. Before, they stayed open
    /// until their own lifetime.
    @Test func theLogSessionsACrashLeftTheConsoleHoldingEndWhenAuthdStartsAgain() async throws {
        let (server, _) = try await EventFeedTests.serverWithAdmin()
        let signIn = try Self.consoleSignIn(server)
        let list = server.data + "/console-sessions"
        let kept = try String(contentsOfFile: list, encoding: .utf8)
        #expect(kept.split(separator: "\n").count == 1, "\(kept)")
        #expect(try FileManager.default.attributesOfItem(atPath: list)[.posixPermissions] as? Int == 0o600)
        server.kill()
        defer { try? FileManager.default.removeItem(atPath: server.data) }
        #expect(try Self.adminHistory(server, after: signIn).isEmpty, "nothing was recorded at the crash")
        // What a crash in the middle of a save leaves: removed at the start.
        let leftover = list + ".tmp-" + UUID().uuidString
        #expect(FileManager.default.createFile(atPath: leftover, contents: Data("x".utf8)))

        let restarted = try RunningServer(data: server.data)
        let start = ContinuousClock.now
        var after: [[String: Any]] = []
        var listed = "(unread)"
        // Ended as authd starts; 60 s is the limit on a loaded machine.
        while after.isEmpty || !listed.isEmpty, ContinuousClock.now - start < .seconds(60) {
            after = try Self.adminHistory(restarted, after: signIn)
            listed = try String(contentsOfFile: list, encoding: .utf8)
            if after.isEmpty || !listed.isEmpty { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(after.map { $0["type"] as? String } == ["LoggedOut"], "\(after)")
        #expect(after.first?["actor"] as? String == "system")
        #expect(listed.isEmpty, "the list still holds \(listed)")
        #expect(!FileManager.default.fileExists(atPath: leftover))
    }

    /// A list of held sessions that others could have written (mode 0666 here) is not used but
    /// moved aside: a session it names stays open. On code that read it, the first sweep ended
    /// the user's session named in it, and their refresh token was refused.
    @Test func aHeldSessionListOthersCouldWriteIsNotRead() async throws {
        let (server, _) = try await EventFeedTests.serverWithAdmin(arguments: ["--console-idle-minutes", "0.1"])
        _ = try await EventFeedTests.register(server, "kept@example.com")
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "kept@example.com", "password": "correct horse battery"])
        let refresh = try #require(login.json["refresh_token"] as? String)
        let token = try #require(RefreshToken(parsing: refresh))
        server.kill()
        defer { try? FileManager.default.removeItem(atPath: server.data) }
        let list = server.data + "/console-sessions"
        let line = "\(token.userID.uuidString.lowercased()) \(token.sessionID.uuidString.lowercased())\n"
        try? FileManager.default.removeItem(atPath: list)
        #expect(
            FileManager.default.createFile(
                atPath: list, contents: Data(line.utf8), attributes: [.posixPermissions: 0o666]))

        let restarted = try RunningServer(arguments: ["--console-idle-minutes", "0.1"], data: server.data)
        let refusal = "the log sessions the console held before this start could not be read"
        #expect(restarted.awaitOutput(containing: refusal, timeout: 60) != nil)
        let names = try FileManager.default.contentsOfDirectory(atPath: server.data)
        let aside = try #require(names.first { $0.hasPrefix("console-sessions.unreadable-") }, "\(names)")
        #expect(try String(contentsOfFile: server.data + "/" + aside, encoding: .utf8) == line)
        // A console sign-in and sign-out: its end is handled by a sweep after the first.
        let cookie = try Self.signIn(restarted, email: "root@example.com", password: EventFeedTests.adminPassword)
        let page = try await restarted.call("GET", "/admin/users", headers: ["Cookie": "authlog_console=\(cookie)"])
        let signOut = try await restarted.call(
            "POST", "/admin/logout", raw: Data("csrf=\(try Self.csrfToken(in: page))".utf8),
            contentType: "application/x-www-form-urlencoded", headers: ["Cookie": "authlog_console=\(cookie)"])
        #expect(signOut.status == 303)
        let start = ContinuousClock.now
        var handled = 0
        while handled == 0, ContinuousClock.now - start < .seconds(60) {
            handled = try await restarted.metric("authlog_console_sessions_ended_total")
            if handled == 0 { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(handled == 1, "console sessions handled: \(handled)")
        let rotated = try await restarted.call("POST", "/v1/sessions/refresh", json: ["refresh_token": refresh])
        #expect(rotated.status == 200, "\(String(decoding: rotated.body, as: UTF8.self))")
    }

    /// A sign-in the console cannot keep in its list (here the list's name is taken by a
    /// directory) is refused: its log session is ended before the answer (a crash would
    /// otherwise have left it open), and the form comes back, 503 with Retry-After.
    @Test func aSignInTheConsoleCannotKeepIsRefusedAndItsLogSessionEnded() async throws {
        let (server, _) = try await EventFeedTests.serverWithAdmin()
        try FileManager.default.createDirectory(
            atPath: server.data + "/console-sessions", withIntermediateDirectories: false)
        let reply = try Self.signInReply(
            server, email: "root@example.com", password: EventFeedTests.adminPassword, expecting: 503)
        #expect(reply.headers["retry-after"] != nil, "\(reply.headers)")
        #expect(String(decoding: reply.body, as: UTF8.self).contains("could not keep the sign-in"))
        #expect(Self.cookie(of: reply) == nil, "no signed-in cookie is set")
        let signIn = try #require(
            try Self.history(server, "root@example.com").last { $0["type"] as? String == "LoginSucceeded" })
        let after = try Self.adminHistory(server, after: signIn)
        #expect(after.map { $0["type"] as? String } == ["LoggedOut"], "\(after)")
        #expect(after.first?["actor"] as? String == "system")
    }

    /// A list that is not a regular file (a FIFO here, which an open without O_NONBLOCK waits
    /// on for ever) is moved aside and authd starts and serves.
    @Test func aHeldSessionListThatIsNotAFileIsMovedAsideAndAuthdStarts() async throws {
        let data = NSTemporaryDirectory() + "authd-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let server = try RunningServer(data: data) { data in
            #expect(mkfifo(data + "/console-sessions", 0o600) == 0)
        }
        #expect(try await server.call("GET", "/healthz").status == 200)
        let names = try FileManager.default.contentsOfDirectory(atPath: data)
        #expect(names.contains { $0.hasPrefix("console-sessions.unreadable-") }, "\(names)")
    }

    /// The sweep ends only the log session the console started: after the admin signs in
    /// through the API (a new session, replacing the console's), the console session's end
    /// records nothing, and the API's session and tokens keep working.
    @Test func theConsoleNeverEndsALogSessionItDidNotStart() async throws {
        // 12 s: time enough, on a loaded machine, for the API sign-in to come before the sweep.
        let (server, _) = try await EventFeedTests.serverWithAdmin(arguments: ["--console-session-minutes", "0.2"])
        let start = ContinuousClock.now
        let consoleSignIn = try Self.consoleSignIn(server)
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "root@example.com", "password": EventFeedTests.adminPassword])
        #expect(login.status == 200)
        let access = try #require(login.json["access_token"] as? String)
        let refresh = try #require(login.json["refresh_token"] as? String)
        // Wait until the sweep has handled the console session's end (12 s lifetime, then up to 3 s).
        var handled = false
        while !handled, ContinuousClock.now - start < .seconds(60) {
            let metrics = String(decoding: try await server.call("GET", "/metrics").body, as: UTF8.self)
            handled = metrics.contains("\nauthlog_console_sessions_ended_total 1\n")
            if !handled { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(handled, "the sweep never handled the console session's end")
        // Nothing ended either session: the API's sign-in replaced the console's (no event), and
        // the sweep found the console's no longer current.
        let after = try Self.adminHistory(server, after: consoleSignIn)
        #expect(after.map { $0["type"] as? String } == ["LoginSucceeded"], "\(after)")
        #expect(try await server.call("GET", "/v1/users/me", token: access).status == 200)
        let rotated = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": refresh])
        #expect(rotated.status == 200, "\(String(decoding: rotated.body, as: UTF8.self))")
    }

    /// A form opened without cookies (as a browser opens a link from another site: SameSite=Strict
    /// withholds both) sets only the form's cookie, never the signed-in one, so it cannot sign
    /// an admin out of their browser; the sign-in then sets the signed-in cookie and removes
    /// the form's.
    @Test func aSignInFormNeverSetsTheSignedInCookie() async throws {
        let (server, _) = try await EventFeedTests.serverWithAdmin()
        let form = try exchange(port: server.port, from: "127.0.0.1", "GET", "/admin/login")
        #expect(form.status == 200)
        let setCookies = (form.headers["set-cookie"] ?? "").split(separator: "\n")
        #expect(setCookies.count == 1 && setCookies[0].hasPrefix("authlog_console_login="), "\(setCookies)")
        #expect(setCookies.first?.contains("Path=/admin/login;") == true)
        #expect(Self.cookie(of: form) == nil)

        // The sign-in sets the signed-in cookie and removes the form's.
        let signedIn = try Self.signInReply(server, email: "root@example.com", password: EventFeedTests.adminPassword)
        let fields = (signedIn.headers["set-cookie"] ?? "").split(separator: "\n")
        #expect(fields.contains { $0.hasPrefix("authlog_console=") && $0.contains("Path=/admin;") }, "\(fields)")
        #expect(fields.contains { $0.hasPrefix("authlog_console_login=;") && $0.contains("Max-Age=0") }, "\(fields)")
        let admin = try #require(Self.cookie(of: signedIn))
        let page = try exchange(
            port: server.port, from: "127.0.0.1", "GET", "/admin/users",
            headers: ["Cookie": "authlog_console=\(admin)"])
        #expect(page.status == 200)
    }

    /// Behind an https public URL the console's cookies carry the `__Host-` prefix (Secure,
    /// Path=/, no Domain), which a browser takes only from a secure page of this very host, and
    /// a cookie of the plain name is not taken. Before, they were `authlog_console` with
    /// Path=/admin even then: a sibling subdomain (Domain= the parent) or a plain-http page
    /// could set a cookie of that name for the admin's browser to send beside theirs, or in
    /// its place, and the console took it.
    @Test func behindHTTPSTheCookiesCarryTheHostPrefixAndThePlainNameIsNotTaken() async throws {
        let (server, _) = try await EventFeedTests.serverWithAdmin(arguments: [
            "--public-url", "https://auth.example.com",
        ])
        let reply = try Self.signInReply(
            server, email: "root@example.com", password: EventFeedTests.adminPassword, prefix: "__Host-")
        let fields = (reply.headers["set-cookie"] ?? "").split(separator: "\n").map(String.init)
        let session = try #require(fields.first { $0.hasPrefix("__Host-authlog_console=") })
        #expect(
            session.contains("; Path=/;") && session.contains("; Secure") && !session.contains("Domain"), "\(session)")
        let value = try #require(Self.cookie(of: reply, "__Host-authlog_console"))
        let signedIn = try exchange(
            port: server.port, from: "127.0.0.1", "GET", "/admin/users",
            headers: ["Cookie": "__Host-authlog_console=\(value)"])
        #expect(signedIn.status == 200)
        let plain = try exchange(
            port: server.port, from: "127.0.0.1", "GET", "/admin/users", headers: ["Cookie": "authlog_console=\(value)"]
        )
        #expect(plain.status == 303 && plain.headers["location"]?.hasSuffix("/admin/login") == true)
    }

    /// Every cookieless `GET /admin/login` opens a session waiting for a sign-in. A flood of
    /// them, more than the table holds, from a client with no password, leaves a signed-in
    /// admin signed in.
    @Test func aFloodOfSignInFormsDoesNotSignAnAdminOut() async throws {
        let (server, _) = try await EventFeedTests.serverWithAdmin(arguments: ["--rate-limit", "100000"])
        let admin = try Self.signIn(server, email: "root@example.com", password: EventFeedTests.adminPassword)
        let page = "GET /admin/users HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: authlog_console=\(admin)\r\n\r\n"
        let before = try LoopbackConnection(port: server.port, from: "127.0.0.1")
        try before.send(page)
        #expect(try parseResponse(try #require(before.readResponse(timeout: 30))).status == 200)

        // 10,001 forms (the table holds 10,000), on one kept-alive connection from another
        // address, 100 at a time.
        let flood = try LoopbackConnection(port: server.port, from: "127.0.0.5")
        let form = "GET /admin/login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        var opened = 0
        while opened < 10_001 {
            let batch = min(100, 10_001 - opened)
            try flood.send(String(repeating: form, count: batch))
            let answers = flood.readResponses(batch, timeout: 30)
            #expect(answers.count == batch)
            guard answers.count == batch else { break }
            #expect(answers.allSatisfy { (try? parseResponse($0))?.status == 200 })
            opened += batch
        }

        let after = try LoopbackConnection(port: server.port, from: "127.0.0.1")
        try after.send(page)
        let reply = try parseResponse(try #require(after.readResponse(timeout: 30)))
        #expect(reply.status == 200, "the admin was signed out: \(reply.status) \(reply.headers["location"] ?? "")")
    }

    /// A sign-in posted without a live waiting session (no cookie, or a stale one) is answered
    /// with a fresh form, which opens a waiting session: it counts against the same limit as a
    /// cookieless `GET /admin/login`. Before, those posts opened sessions without a limit, so
    /// one client address could push everyone's waiting forms out of the table.
    @Test func signInsPostedWithoutAWaitingSessionOpenAtMostTheRateLimitOfForms() async throws {
        let server = try RunningServer(arguments: ["--rate-limit", "5"])
        let post = { () throws -> RunningServer.Reply in
            let connection = try LoopbackConnection(port: server.port, from: "127.0.0.7")
            let body = "email=a%40example.com&password=x&csrf=stale"
            try connection.send(
                "POST /admin/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
                    + body)
            return try parseResponse(try #require(connection.readUntilClosed(timeout: 30)))
        }
        for index in 0..<5 {
            let stale = try post()
            #expect(stale.status == 403, "post \(index)")
            #expect(Self.cookie(of: stale, "authlog_console_login") != nil, "post \(index) opened no form")
        }
        let refused = try post()
        #expect(refused.status == 429 && refused.code == "rate_limited" && refused.headers["retry-after"] != nil)
        #expect(Self.cookie(of: refused, "authlog_console_login") == nil)
        // Another address is not held by it.
        let form = try exchange(port: server.port, from: "127.0.0.8", "GET", "/admin/login")
        #expect(form.status == 200)
    }

    /// Each cookieless form opens a waiting session: one client address opens at most
    /// `--rate-limit` a minute, and a form asked for again with its cookie opens none.
    @Test func aClientAddressOpensAtMostItsRateLimitOfSignInForms() async throws {
        let server = try RunningServer(arguments: ["--rate-limit", "5"])
        var first: String?
        for index in 0..<5 {
            let form = try exchange(port: server.port, from: "127.0.0.6", "GET", "/admin/login")
            #expect(form.status == 200, "form \(index)")
            first = first ?? Self.cookie(of: form, "authlog_console_login")
        }
        let refused = try exchange(port: server.port, from: "127.0.0.6", "GET", "/admin/login")
        #expect(refused.status == 429 && refused.code == "rate_limited" && refused.headers["retry-after"] != nil)
        let cookie = try #require(first)
        let again = try exchange(
            port: server.port, from: "127.0.0.6", "GET", "/admin/login",
            headers: ["Cookie": "authlog_console_login=\(cookie)"])
        #expect(again.status == 200 && Self.cookie(of: again, "authlog_console_login") == nil)
        #expect(try exchange(port: server.port, from: "127.0.0.7", "GET", "/admin/login").status == 200)
    }
}
