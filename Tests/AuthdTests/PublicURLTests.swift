import Foundation
import TestSupport
import Testing

/// `--public-url`: what authd accepts as the base of the links it hands out.
@Suite(.ownThreads) struct PublicURLTests {
    /// A base that is not an http(s) URL with a host, or that carries a query, a fragment or
    /// credentials, stops authd at start with one line and exit 64.
    @Test func aPublicURLThatCannotBeALinksBaseIsRefused() throws {
        let data = NSTemporaryDirectory() + "authd-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        let authd = products().appendingPathComponent("authd")
        for given in [
            "ftp://auth.example.com", "https://", "https://user@auth.example.com", "https://a.example/?x=1",
            "auth.example.com", "https://a.example/#top",
        ] {
            let run = try runProcess(
                authd, ["--data", data, "--port", "0", "--public-url", given], environment: inherited)
            #expect(run.status == 64 && run.stderr.contains("--public-url"), "\(given): \(run.status) \(run.stderr)")
        }
    }
}
