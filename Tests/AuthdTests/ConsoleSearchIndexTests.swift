import Foundation
import TestSupport
import Testing

/// The console's search index is built when authd starts, not by the first search.
@Suite(.ownThreads) struct ConsoleSearchIndexTests {
    @Test func theIndexIsBuiltAtStartBeforeAnySearch() async throws {
        let server = try RunningServer { data in
            #expect(
                try authctl(
                    ["--data", data, "create-admin", "--email", "root@example.com"], input: "an admin passphrase\n")
                    == 0)
            let seeded = try runAuthctl(["--data", data, "seed", "--users", "300", "--events", "900", "--force"])
            #expect(seeded.status == 0, "\(seeded.stderr)")
        }
        // No request has been made: the line comes from the build at start, with every user.
        let output = try #require(
            server.awaitOutput(containing: "console search index built", timeout: 60), "no index line")
        let line = try #require(output.split(separator: "\n").first { $0.contains("console search index built") })
        #expect(line.contains("users=301"), "\(line)")
    }

    @Test func withoutTheConsoleNoIndexIsBuilt() async throws {
        let server = try RunningServer(arguments: ["--no-console"])
        // The health answer comes after start; the index line would have come before it.
        #expect(try await server.call("GET", "/healthz").status == 200)
        #expect(server.awaitOutput(containing: "console search index built", timeout: 2) == nil)
    }
}
