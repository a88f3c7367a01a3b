import Foundation
import TestSupport
import Testing

/// The options whose value may be absent read their `AUTHLOG_` variable when they are not
/// given, and a given option wins over its variable.
@Suite(.ownThreads) struct EnvironmentOptionsTests {
    /// Each variable, set to a value authd refuses, stops it at start with that value's
    /// refusal: the variable was read. `--trusted-proxy` (checked after these) is given a
    /// value authd refuses too, so that a variable left unread ends the run with that
    /// refusal instead of a server that keeps running.
    @Test func eachOptionalSettingIsReadFromItsVariable() throws {
        let data = NSTemporaryDirectory() + "authd-test-" + UUID().uuidString
        let missing = data + "-missing"
        defer { try? FileManager.default.removeItem(atPath: data) }
        let authd = products().appendingPathComponent("authd")
        for (environment, expected) in [
            (["AUTHLOG_METRICS_HOST": "127.0.0.1"], "--metrics-host needs --metrics-port"),
            (["AUTHLOG_METRICS_PORT": "70000"], "--metrics-port must be 0 to 65535"),
            (["AUTHLOG_PUBLIC_URL": "ftp://auth.example.com"], "--public-url ftp://auth.example.com must be"),
            (["AUTHLOG_CONSOLE_TEMPLATES": missing], "--console-templates \(missing) is not a directory"),
            (["AUTHLOG_TEMPLATES": missing], "--templates \(missing) is not a directory"),
            (["AUTHLOG_SMTP_PASSWORD_FILE": missing], "--smtp-password-file needs --smtp-url"),
            (
                ["AUTHLOG_SMTP_URL": "smtp://127.0.0.1:2525", "AUTHLOG_SMTP_CA_FILE": missing],
                "cannot read --smtp-ca-file \(missing)"
            ),
        ] {
            let run = try runProcess(
                authd, ["--data", data, "--port", "0", "--trusted-proxy", "not-a-range"],
                environment: cleanEnvironment(environment))
            #expect(run.status == 64 && run.stderr.contains(expected), "\(environment): \(run.stderr)")
        }
        // A given option wins over its variable.
        let run = try runProcess(
            authd, ["--data", data, "--port", "0", "--public-url", "ftp://given.example.com"],
            environment: cleanEnvironment(["AUTHLOG_PUBLIC_URL": "ftp://variable.example.com"]))
        #expect(run.status == 64 && run.stderr.contains("--public-url ftp://given.example.com"), "\(run.stderr)")
    }

    /// `AUTHLOG_LOG_URL` names the shared log: adding a signing key then goes to its database,
    /// whose URL is read (and refused here) instead of the data directory's key file.
    @Test func theLogURLIsReadFromItsVariable() throws {
        let data = NSTemporaryDirectory() + "authd-test-" + UUID().uuidString
        let kek = data + ".kek"
        defer {
            try? FileManager.default.removeItem(atPath: data)
            try? FileManager.default.removeItem(atPath: kek)
        }
        let key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        #expect(
            FileManager.default.createFile(
                atPath: kek, contents: Data(key.utf8), attributes: [.posixPermissions: 0o600]))
        let run = try runProcess(
            products().appendingPathComponent("authd"), ["--data", data, "--rotate-signing-key"],
            environment: cleanEnvironment(["AUTHLOG_LOG_URL": "mysql://authd@127.0.0.1/auth", "AUTHLOG_KEK_FILE": kek]))
        #expect(run.status == 2 && run.stderr.contains("a PostgreSQL log URL reads"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: data + "/signing-keys"))
    }

    /// `AUTHLOG_ISSUER` and `AUTHLOG_PUBLIC_URL` shape the discovery document; `--issuer` wins
    /// over its variable.
    @Test func theIssuerAndThePublicURLAreReadFromTheirVariables() async throws {
        let variables = [
            "AUTHLOG_PUBLIC_URL": "https://auth.example.com", "AUTHLOG_ISSUER": "https://variable.example.com",
        ]
        for (arguments, issuer) in [
            ([], "https://variable.example.com"),
            (["--issuer", "https://given.example.com"], "https://given.example.com"),
        ] {
            let server = try RunningServer(arguments: arguments, environment: variables)
            let reply = try await server.call("GET", "/.well-known/openid-configuration")
            let document = try #require(try JSONSerialization.jsonObject(with: reply.body) as? [String: Any])
            #expect(document["issuer"] as? String == issuer)
            #expect((document["jwks_uri"] as? String)?.hasPrefix("https://auth.example.com/") == true, "\(document)")
        }
    }
}
