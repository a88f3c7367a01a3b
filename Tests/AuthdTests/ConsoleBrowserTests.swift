import Foundation
import TestSupport
import Testing

/// The admin console in a real browser: tools/console/browser-test.py drives headless
/// Chromium against a real authd, then the API confirms what the browser did.
@Suite(.ownThreads) struct ConsoleBrowserTests {
    static let password = "correct horse battery"

    /// Where the screenshots go: `AUTHLOG_CONSOLE_SCREENSHOTS` (to refresh docs/console-*.png),
    /// else a temporary directory removed at the end.
    static func screenshotDirectory() throws -> (path: String, keep: Bool) {
        if let given = ProcessInfo.processInfo.environment["AUTHLOG_CONSOLE_SCREENSHOTS"], !given.isEmpty {
            try FileManager.default.createDirectory(atPath: given, withIntermediateDirectories: true)
            return (given, true)
        }
        let path = NSTemporaryDirectory() + "console-shots-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return (path, false)
    }

    static var script: String {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url.appendingPathComponent("tools/console/browser-test.py").path
    }

    /// Runs the browser script; its exit status and output. Killed (SIGKILL) after `seconds`.
    static func runBrowser(_ arguments: [String], seconds: Double = 300) async throws -> (Int32, String) {
        let log = NSTemporaryDirectory() + "console-browser-" + UUID().uuidString + ".log"
        try Data().write(to: URL(fileURLWithPath: log))
        defer { try? FileManager.default.removeItem(atPath: log) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let finished = try await eventually(within: seconds) { !process.isRunning }
        if !finished {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitForExit()
        try output.close()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (finished ? process.terminationStatus : -1, text)
    }

    @Test func anAdminWorksTheConsoleInABrowserAndOthersCannot() async throws {
        let (server, admin) = try await EventFeedTests.serverWithAdmin()
        let manager = try await EventFeedTests.register(server, "manager@example.com", first: "Grace")
        let role = try await server.call(
            "PUT", "/v1/users/\(manager)/role", json: ["role": "MANAGER"], token: admin)
        #expect(role.status == 200)
        let ada = try await EventFeedTests.register(server, "ada.lovelace@example.com")
        let xss = try await server.call(
            "POST", "/v1/users",
            json: [
                "email": "xss@example.com", "password": Self.password, "first_name": "<script>alert(1)</script>",
                "last_name": "\"><img src=x onerror=alert(2)>",
            ])
        #expect(xss.status == 201)
        let xssID = try #require(xss.json["id"] as? String)

        let shots = try Self.screenshotDirectory()
        defer { if !shots.keep { try? FileManager.default.removeItem(atPath: shots.path) } }
        let (status, output) = try await Self.runBrowser([
            "--url", "http://127.0.0.1:\(server.port)", "--screenshots", shots.path,
            "--admin", "root@example.com:\(EventFeedTests.adminPassword)",
            "--manager", "manager@example.com:\(Self.password)",
            "--target", "ada.lovelace@example.com:\(Self.password):\(ada)",
            "--xss", "xss@example.com:\(Self.password):\(xssID)",
        ])
        #expect(status == 0, "\(output)")
        #expect(output.contains("all ok"), "\(output)")
        let pictures = try FileManager.default.contentsOfDirectory(atPath: shots.path).filter { $0.hasSuffix(".png") }
        #expect(Set(pictures).isSuperset(of: ["console-login.png", "console-user.png", "console-as-of.png"]))

        // The API sees what the browser did: one role change, by the admin, and no other.
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "root@example.com", "password": EventFeedTests.adminPassword])
        let token = try #require(login.json["access_token"] as? String)
        let events = try await server.call("GET", "/v1/users/\(ada)/events", token: token)
        let trail = try #require(events.json["events"] as? [[String: Any]])
        let changes = trail.filter { $0["type"] as? String == "RoleChanged" }
        #expect(changes.count == 1)
        let me = try await server.call("GET", "/v1/users/me", token: token)
        let adminID = try #require(me.json["id"] as? String)
        #expect(changes.first?["actor"] as? String == adminID)
        #expect((changes.first?["changes"] as? [String: Any])?["role"] as? String == "MARKETING")
        // The TARGET's refused sign-in started a session and ended it at once; then the admin
        // soft-deleted, restored and erased them, each event with the admin as actor.
        let xssTrail = try await server.call("GET", "/v1/users/\(xssID)/events", token: token)
        let xssEvents = xssTrail.json["events"] as? [[String: Any]] ?? []
        let types = xssEvents.compactMap { $0["type"] as? String }
        #expect(
            Array(types.suffix(5)) == ["LoginSucceeded", "LoggedOut", "UserSoftDeleted", "UserRestored", "UserErased"],
            "\(types)")
        #expect(xssEvents.suffix(3).allSatisfy { $0["actor"] as? String == adminID })
    }

    /// Behind an https public URL the console's cookie is Secure, with the `__Host-` prefix.
    @Test func theCookieIsSecureBehindAnHTTPSPublicURL() async throws {
        let server = try RunningServer(arguments: ["--public-url", "https://auth.example.com"])
        let reply = try await server.call("GET", "/admin/login")
        #expect(reply.status == 200)
        let cookie = reply.headers["set-cookie"] ?? ""
        #expect(cookie.hasPrefix("__Host-authlog_console_login=") && cookie.contains("; Path=/;"))
        #expect(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        #expect(reply.headers["cache-control"] == "no-store")
    }

    /// `--console-templates DIR`: a page there replaces the built-in one; one that does not
    /// parse stops authd at start, naming the file.
    @Test func aTemplateDirectoryReplacesAPageAndABrokenOneStopsAuthd() async throws {
        let templates = NSTemporaryDirectory() + "console-templates-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: templates, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: templates) }
        try Data("<p>Our own sign-in {{csrf}}</p>".utf8).write(
            to: URL(fileURLWithPath: templates + "/login.html.mustache"))
        let server = try RunningServer(arguments: ["--console-templates", templates])
        let page = try await server.call("GET", "/admin/login")
        #expect(page.status == 200)
        #expect(String(decoding: page.body, as: UTF8.self).contains("<p>Our own sign-in "))
        try Data("{{#open}} never closed".utf8).write(to: URL(fileURLWithPath: templates + "/users.html.mustache"))
        do {
            _ = try RunningServer(arguments: ["--console-templates", templates])
            Issue.record("authd started with a template that does not parse")
        } catch RunningServer.ServerError.didNotStart(let output) {
            #expect(output.contains("users.html.mustache"), "\(output)")
        }
    }

    /// `--no-console`: nothing is served under /admin.
    @Test func theConsoleCanBeTurnedOff() async throws {
        let server = try RunningServer(arguments: ["--no-console"])
        #expect(try await server.call("GET", "/admin/login").status == 404)
    }
}
