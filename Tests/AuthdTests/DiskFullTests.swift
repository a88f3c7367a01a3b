import Foundation
import TestSupport
import Testing

/// A data directory on a small tmpfs that fills up under registrations: authd keeps serving
/// reads, answers writes with 503 `storage_full` (never 500), loses nothing it acknowledged,
/// and writes again once space is freed. Needs root and `mount` (CI runs as root).
@Suite(.ownThreads) struct DiskFullTests {
    static let canMount: Bool = {
        let probe = NSTemporaryDirectory() + "authd-mount-probe-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]) == 0 else { return false }
        return run("/bin/umount", [probe]) == 0
    }()

    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitForExit()
        return process.terminationStatus
    }

    @Test(.enabled(if: canMount, "needs root and mount for a small tmpfs"))
    func aFullDiskGets503AndLosesNothingAcknowledged() async throws {
        let mountPoint = NSTemporaryDirectory() + "authd-full-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        #expect(Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mountPoint]) == 0)
        defer {
            Self.run("/bin/umount", ["-l", mountPoint])
            try? FileManager.default.removeItem(atPath: mountPoint)
        }
        let data = mountPoint + "/data"
        let created = try runAuthctl(
            ["--data", data, "create-admin", "--email", "root@example.com"], input: "an admin passphrase\n")
        #expect(created.status == 0, "\(created.stderr)")
        let server = try StartedAuthd(data: data, arguments: ["--registration-rate-limit", "1000000"])
        defer { server.stop() }
        let client = CampaignClient(port: server.port, ledger: Ledger())
        let login = try await client.post(
            "/v1/sessions", ["email": "root@example.com", "password": "an admin passphrase"])
        let admin = try #require(login.json["access_token"] as? String)

        // Leave about 600 KiB free, then register until the space runs out.
        let attributes = try FileManager.default.attributesOfFileSystem(forPath: mountPoint)
        let free = (attributes[.systemFreeSize] as? NSNumber)?.intValue ?? 0
        #expect(
            FileManager.default.createFile(
                atPath: mountPoint + "/filler", contents: Data(count: max(0, free - 600 * 1_024))))
        var acknowledged: [String] = []
        var refused = 0
        for number in 0..<400 where refused < 20 {
            let email = "full\(number)@example.com"
            let reply = try await client.post(
                "/v1/users",
                ["email": email, "password": "a long enough password \(number)", "first_name": "F", "last_name": "L"])
            if reply.status == 201 {
                acknowledged.append(email)
            } else {
                refused += 1
                #expect(
                    reply.status == 503 && reply.json["code"] as? String == "storage_full",
                    "\(reply.status) \(reply.json)")
            }
        }
        #expect(refused > 0, "the disk never filled")
        // Reads go on.
        let page = try await client.request("GET", "/v1/users?role=TARGET&limit=5", nil, token: admin)
        #expect(page.status == 200)
        // Space freed: writes resume, and everything acknowledged is there, readable.
        try FileManager.default.removeItem(atPath: mountPoint + "/filler")
        let again = try await client.post(
            "/v1/users",
            [
                "email": "after@example.com", "password": "a long enough password after", "first_name": "A",
                "last_name": "F",
            ])
        #expect(again.status == 201, "\(again.json)")
        server.stop()
        let verify = try runAuthctl(["--data", data, "verify"])
        #expect(verify.status == 0, "\(verify.stderr)")
        for email in acknowledged + ["after@example.com"] {
            let user = try runAuthctl(["--data", data, "users", "get", email, "--json"])
            #expect(user.status == 0 && user.stdout.contains("\"email\":\"\(email)\""), "\(email): \(user.stderr)")
        }
        print("disk full: \(acknowledged.count) registrations acknowledged, \(refused) refused with 503, lost: 0")
    }
}
