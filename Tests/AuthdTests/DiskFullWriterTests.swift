import Foundation
import TestSupport
import Testing

/// The CLI writers and a growing map on a disk that fills up (a small tmpfs the test mounts
/// as root and always unmounts): a one-line error and a non-zero exit, the directory usable
/// with its chain intact and nothing lost that was there before, and success once space is
/// freed.
@Suite(.ownThreads, .enabled(if: DiskFullTests.canMount, "needs root and mount for a small tmpfs"))
struct DiskFullWriterTests {
    @Test func importOnAFullDiskFailsInOneLineAndSucceedsOnceSpaceIsFreed() throws {
        let scratch = try FaultScratch()
        let source = scratch.at("source")
        try WriterKillCampaignTests().prepare(source, users: 400, events: 4_000)
        let export = try runAuthctl(["--data", source, "export"])
        let file = scratch.at("export.jsonl")
        try export.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let events = try WriterKillCampaignTests().eventCount(source)

        guard let disk = Tmpfs(megabytes: 8) else { return }
        let data = disk.at("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
        chmod(data, 0o700)
        try FileManager.default.copyItem(atPath: source + "/kek", toPath: data + "/kek")
        let kek = try String(contentsOfFile: data + "/kek", encoding: .utf8)
        disk.fill(leaving: 512 << 10)
        let refused = try runAuthctl(["--data", data, "import", file])
        #expect(refused.status == 2, "\(refused.stderr)")
        let lines = refused.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("authctl: "), "\(refused.stderr)")
        #expect(refused.stderr.contains("full disk") || refused.stderr.contains("storage full"), "\(refused.stderr)")
        // Nothing half imported, nothing lost: the directory holds what it held.
        #expect(try FileManager.default.contentsOfDirectory(atPath: data).sorted() == ["kek"])
        #expect(try String(contentsOfFile: data + "/kek", encoding: .utf8) == kek)

        disk.free()
        let imported = try runAuthctl(["--data", data, "import", file])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try runAuthctl(["--data", data, "verify"]).status == 0)
        #expect(try WriterKillCampaignTests().eventCount(data) == events)
    }

    @Test func seedOnAFullDiskFailsInOneLineAndKeepsWhatWasThere() throws {
        guard let disk = Tmpfs(megabytes: 8) else { return }
        let data = disk.at("data")
        let first = try runAuthctl(["--data", data, "seed", "--users", "200", "--events", "2000"])
        #expect(first.status == 0, "\(first.stderr)")
        let before = try exportLines(data).filter { $0.contains("\"kind\":\"event\"") }
        disk.fill(leaving: 256 << 10)
        let refused = try runAuthctl(["--data", data, "seed", "--users", "3000", "--events", "30000"])
        #expect(refused.status == 2, "\(refused.stderr)")
        let errors = refused.stderr.split(separator: "\n").filter { !$0.hasPrefix("seed: ") }
        #expect(errors.count == 1 && errors[0].hasPrefix("authctl: "), "\(refused.stderr)")
        #expect(refused.stderr.contains("full disk") || refused.stderr.contains("storage full"), "\(refused.stderr)")
        // The chain is intact and every event that was there before is there unchanged.
        #expect(try runAuthctl(["--data", data, "verify"]).status == 0)
        disk.free()
        let after = try exportLines(data).filter { $0.contains("\"kind\":\"event\"") }
        #expect(Array(after.prefix(before.count)) == before)
        let again = try runAuthctl(["--data", data, "seed", "--users", "300", "--events", "3000"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try runAuthctl(["--data", data, "verify"]).status == 0)
        #expect(try WriterKillCampaignTests().eventCount(data) == after.count + 3_000)
    }

    /// authd with a 1 MiB initial map: writes go on past it (the map grows), and once the disk
    /// is full they are refused with 503 storage_full, reads go on, and nothing acknowledged
    /// is lost.
    @Test func theMapGrowsPastItsInitialSizeUntilTheDiskIsFull() async throws {
        guard let disk = Tmpfs(megabytes: 8) else { return }
        let data = disk.at("data")
        // A log of about 800 KiB: a few hundred writes take it past 1 MiB.
        try WriterKillCampaignTests().prepare(data, users: 250, events: 2_500)
        let server = try StartedAuthd(data: data, arguments: ["--initial-map-mib", "1"])
        defer { server.stop() }
        let client = CampaignClient(port: server.port, ledger: Ledger())
        let login = try await client.post(
            "/v1/sessions", ["email": "root@example.com", "password": WriterKillCampaignTests.password])
        let admin = try #require(login.json["access_token"] as? String)
        let me = try #require(try await client.request("GET", "/v1/users/me", nil, token: admin).json["id"] as? String)
        var last = ""
        func rename(_ number: Int) async throws -> Int {
            let name = "Name\(number)"
            let reply = try await client.request("PATCH", "/v1/users/\(me)", ["first_name": name], token: admin)
            if reply.status == 200 { last = name }
            return reply.status
        }
        var number = 0
        let initial = try logBytes(data)
        while try logBytes(data) <= 1 << 20 && number < 20_000 {
            for _ in 0..<100 {
                number += 1
                #expect(try await rename(number) == 200)
            }
        }
        let grown = try logBytes(data)
        #expect(initial < 1 << 20 && grown > 1 << 20, "the log never outgrew its 1 MiB map: \(initial) to \(grown)")

        disk.fill(leaving: 128 << 10)
        var refused = 0
        while refused == 0 && number < 40_000 {
            number += 1
            let reply = try await client.request(
                "PATCH", "/v1/users/\(me)", ["first_name": "Name\(number)"], token: admin)
            if reply.status == 200 {
                last = "Name\(number)"
            } else {
                refused += 1
                #expect(reply.status == 503 && reply.json["code"] as? String == "storage_full", "\(reply.json)")
            }
        }
        #expect(refused > 0, "the disk never filled")
        let read = try await client.request("GET", "/v1/users/\(me)", nil, token: admin)
        #expect(read.status == 200 && read.json["first_name"] as? String == last, "\(read.json)")

        disk.free()
        number += 1
        #expect(try await rename(number) == 200)
        server.stop()
        #expect(try runAuthctl(["--data", data, "verify"]).status == 0)
        let user = try runAuthctl(["--data", data, "users", "get", "root@example.com", "--json"])
        #expect(user.stdout.contains("\"first_name\":\"\(last)\""), "\(user.stdout)")
        print(
            "map growth: 1 MiB initial map, log grew from \(initial >> 10) to \(grown >> 10) KiB, \(number) writes, "
                + "refused with 503 storage_full once the disk was full, lost: 0")
    }

    func logBytes(_ data: String) throws -> Int {
        let stats = try runAuthctl(["--data", data, "stats", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
        return try #require(object?["log_bytes"] as? Int)
    }
}
