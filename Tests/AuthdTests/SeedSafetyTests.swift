import Foundation
import TestSupport
import Testing

/// Seeded users cannot sign in with any known secret, and seed keeps out of directories with
/// real users unless told `--force`.
@Suite(.ownThreads) struct SeedSafetyTests {
    @Test func seededUsersCannotSignInAndSeedRefusesRealUsersWithoutForce() async throws {
        let server = try RunningServer { data throws in
            #expect(try authctl(["--data", data, "seed", "--users", "60", "--events", "900"]) == 0)
        }
        // Read beside the running authd; on a loaded machine its first answer can come before the
        // read is possible, so the read is asked again (its last refusal is in the message).
        var admins = try authctlResult(["--data", server.data, "users", "list", "--role", "ADMIN", "--json"])
        _ = try await eventually {
            if admins.status != 0 {
                admins = try authctlResult(["--data", server.data, "users", "list", "--role", "ADMIN", "--json"])
            }
            return admins.status == 0
        }
        #expect(admins.status == 0, "users list: \(admins.stderr)")
        let emails =
            admins.stdout.split(separator: "\n").compactMap { json(Substring($0))["email"] as? String }.prefix(3)
            + ["seed1@example.com"]
        #expect(emails.count > 1, "no seeded ADMIN to try: \(admins.stdout) \(admins.stderr)")
        for email in emails {
            for password in ["seeded users all share this passphrase", ""] {
                let reply = try await server.call("POST", "/v1/sessions", json: ["email": email, "password": password])
                #expect(reply.status != 200, "\(email) signed in with a known password")
            }
        }

        let scratch = NSTemporaryDirectory() + "authd-seed-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        #expect(
            try authctlResult(
                ["--data", scratch, "create-admin", "--email", "boss@example.com"],
                input: ErasureBesideAuthdTests.adminPassword + "\n"
            ).status == 0)
        let head = try authctlResult(["--data", scratch, "verify"]).stdout
        let refused = try authctlResult(["--data", scratch, "seed", "--users", "5", "--events", "15"])
        #expect(refused.status == 2 && refused.stderr.contains("--force"), "\(refused.stderr)")
        #expect(try authctlResult(["--data", scratch, "verify"]).stdout == head, "a refused seed wrote events")
        let forced = try authctlResult(["--data", scratch, "seed", "--users", "5", "--events", "15", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(!forced.stdout.contains("passphrase") && !forced.stderr.contains("passphrase"))
    }
}
