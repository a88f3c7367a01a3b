import Foundation
import TestSupport
import Testing

/// A key store (`DATA/keys`) or signing-key file that cannot be written, made so for root
/// too: a read-only bind mount, or a full file system of its own. Every command fails cleanly
/// (503 problem+json in authd, one line and exit 2 in authctl) and no user is ever written
/// without the data key that opens their personal data.
@Suite(.ownThreads, .enabled(if: DiskFullTests.canMount, "needs root and mount"))
struct UnwritableKeyFilesTests {
    let password = WriterKillCampaignTests.password

    /// The key store on a full file system of its own (a file bind-mounted from a tiny tmpfs),
    /// the log with room: a registration is 503 storage_full and writes no event; once space
    /// is freed the same registration succeeds and its personal data opens.
    @Test func aFullKeyStoreRefusesRegistrationsAndWritesNoUserWithoutAKey() async throws {
        let scratch = try FaultScratch()
        let data = scratch.at("data")
        let created = try runAuthctl(
            ["--data", data, "create-admin", "--email", "root@example.com"], input: password + "\n")
        #expect(created.status == 0, "\(created.stderr)")
        guard let disk = Tmpfs(megabytes: 1) else { return }
        // Zero (empty) slots up to a page boundary (64 + 204 x 80 = 16384): the next slot
        // needs a page of its own.
        var keys = try #require(FileManager.default.contents(atPath: data + "/keys"))
        keys.append(Data(count: 16_384 - keys.count))
        try keys.write(to: URL(fileURLWithPath: disk.at("keys")))
        chmod(disk.at("keys"), 0o600)
        #expect(DiskFullTests.run("/bin/mount", ["--bind", disk.at("keys"), data + "/keys"]) == 0)
        defer { DiskFullTests.run("/bin/umount", ["-l", data + "/keys"]) }

        let server = try StartedAuthd(data: data, arguments: ["--registration-rate-limit", "1000000"])
        defer { server.stop() }
        let client = CampaignClient(port: server.port, ledger: Ledger())
        let form: [String: Any] = [
            "email": "keyless@example.com", "password": "a long enough password", "first_name": "Kay",
            "last_name": "Less",
        ]
        let events = try WriterKillCampaignTests().eventCount(data)
        disk.fill()
        let refused = try await client.post("/v1/users", form)
        #expect(refused.status == 503 && refused.json["code"] as? String == "storage_full", "\(refused.json)")
        let raw = try await rawPost(port: server.port, "/v1/users", form)
        #expect(raw.contentType.hasPrefix("application/problem+json") && raw.retryAfter != nil)
        // Nothing was written: no event, no user.
        #expect(try WriterKillCampaignTests().eventCount(data) == events)
        #expect(try runAuthctl(["--data", data, "users", "get", "keyless@example.com"]).status == 2)
        #expect(try runAuthctl(["--data", data, "verify"]).status == 0)
        let login = try await client.post("/v1/sessions", ["email": "root@example.com", "password": password])
        #expect(login.status == 200, "reads and sign-ins go on: \(login.json)")

        disk.free()
        let accepted = try await client.post("/v1/users", form)
        #expect(accepted.status == 201, "\(accepted.json)")
        server.stop()
        let user = try runAuthctl(["--data", data, "users", "get", "keyless@example.com", "--json"])
        #expect(user.status == 0 && user.stdout.contains("\"first_name\":\"Kay\""), "\(user.stderr)")
    }

    /// The key store on a read-only bind mount: authd does not start, and every authctl writer
    /// fails in one line before it writes anything.
    @Test func aReadOnlyKeyStoreStopsEveryWriterBeforeItWrites() throws {
        let scratch = try FaultScratch()
        let data = scratch.at("data")
        try WriterKillCampaignTests().prepare(data, users: 20, events: 200)
        let someone = try runAuthctl(["--data", data, "users", "get", "seed3@example.com", "--json"])
        let id = try #require(
            (try JSONSerialization.jsonObject(with: Data(someone.stdout.utf8)) as? [String: Any])?["id"] as? String)
        let events = try WriterKillCampaignTests().eventCount(data)
        #expect(DiskFullTests.run("/bin/mount", ["--bind", data + "/keys", data + "/keys"]) == 0)
        defer { DiskFullTests.run("/bin/umount", ["-l", data + "/keys"]) }
        #expect(DiskFullTests.run("/bin/mount", ["-o", "remount,ro,bind", data + "/keys"]) == 0)

        let server = try StartedAuthd(data: data)
        defer { server.stop() }
        #expect(server.port == 0 && server.status == 2, "\(server.output)")
        #expect(
            server.output.contains("authd: ") && server.output.contains("Read-only file system"), "\(server.output)")
        for command in [
            ["create-admin", "--email", "second@example.com"], ["erase", id],
            ["seed", "--force", "--users", "5", "--events", "50"],
        ] {
            let failed = try runAuthctl(["--data", data] + command, input: password + "\n")
            #expect(failed.status == 2, "\(command[0]): \(failed.stderr)")
            let lines = failed.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains("Read-only file system"), "\(command[0]): \(failed.stderr)")
        }
        #expect(try WriterKillCampaignTests().eventCount(data) == events)
        #expect(try runAuthctl(["--data", data, "verify"]).status == 0)
        let still = try runAuthctl(["--data", data, "users", "get", id, "--json"])
        #expect(still.stdout.contains("seed3@example.com"), "the erase must not have started: \(still.stdout)")
    }

    /// The signing-key file cannot be created on a full disk: authd stops in one line and
    /// leaves no empty key file behind, so it starts once space is freed.
    @Test func aSigningKeyThatCannotBeWrittenLeavesNoEmptyKeyFile() throws {
        guard let disk = Tmpfs(megabytes: 4) else { return }
        let data = disk.at("data")
        let created = try runAuthctl(
            ["--data", data, "create-admin", "--email", "root@example.com"], input: password + "\n")
        #expect(created.status == 0, "\(created.stderr)")
        disk.fill()
        let full = try StartedAuthd(data: data)
        defer { full.stop() }
        #expect(full.port == 0 && full.status == 2, "\(full.output)")
        #expect(full.output.contains("No space left on device"), "\(full.output)")
        #expect(!FileManager.default.fileExists(atPath: data + "/signing-keys"))
        disk.free()
        let freed = try StartedAuthd(data: data)
        defer { freed.stop() }
        #expect(freed.port != 0, "\(freed.output)")
    }

    /// A POST's status line headers (content type, Retry-After).
    func rawPost(port: Int, _ path: String, _ body: [String: Any]) async throws -> (
        contentType: String, retryAfter: String?
    ) {
        let reply = try await LoopbackRequest(
            "POST", path, headers: [("Content-Type", "application/json")],
            body: try JSONSerialization.data(withJSONObject: body)
        ).send(port: port)
        return (reply.headers["content-type"] ?? "", reply.headers["retry-after"])
    }
}
