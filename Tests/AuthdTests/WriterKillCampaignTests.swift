import EventLog
import Foundation
import TestSupport
import Testing

/// Kills `authctl rebuild`, `authctl import` and `authctl erase` with SIGKILL after a random
/// delay, then checks that the data directory is usable (verify passes, authd starts and
/// serves a read) and that the operation is done or not done, never half done.
///
/// The delays come from a seeded generator whose seed is printed (`AUTHLOG_FAULT_SEED=n`
/// replays a run); `AUTHLOG_FAULT_KILLS=n` sets the kills per campaign (default 8).
@Suite(.ownThreads) struct WriterKillCampaignTests {
    static let environment = ProcessInfo.processInfo.environment
    static let kills = max(1, Int(environment["AUTHLOG_FAULT_KILLS"] ?? "") ?? 8)
    static let password = "the root passphrase"

    static func random(_ campaign: String) -> SplitMix64 {
        let seed = UInt64(environment["AUTHLOG_FAULT_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        print("\(campaign) kill campaign: seed \(seed) (AUTHLOG_FAULT_SEED=\(seed) replays it)")
        return SplitMix64(seed: seed)
    }

    @Test func aKilledRebuildLeavesTheOldProjectionsOrTheNewOnes() async throws {
        var random = Self.random("rebuild")
        let scratch = try FaultScratch()
        let data = scratch.at("data")
        try prepare(data, users: 1_000, events: 10_000)
        let started = Date()
        #expect(try runAuthctl(["--data", data, "rebuild"]).status == 0)
        let duration = Date().timeIntervalSince(started)
        var generation = try projectionGeneration(data)
        var done = 0
        var notDone = 0
        for round in 0..<Self.kills {
            // Each round's sign-in (below) changes the admin's row: compare with this round's start.
            let expected = try KillCampaignTests().projectedUsers(data)
            let finished = killAuthctl(["--data", data, "rebuild"], after: delay(&random, upTo: duration * 2))
            #expect(finished == nil || finished == 0, "round \(round): rebuild exited \(finished ?? -1)")
            let now = try projectionGeneration(data)
            if now != generation { done += 1 } else { notDone += 1 }
            generation = now
            #expect(try runAuthctl(["--data", data, "verify"]).status == 0, "round \(round)")
            #expect(try KillCampaignTests().projectedUsers(data) == expected, "round \(round): the projections changed")
            try await expectServes(data, round: round)
        }
        print("rebuild kill campaign: \(Self.kills) kills; rebuild done \(done), not done \(notDone); lost: 0")
        #expect(done + notDone == Self.kills)
    }

    @Test func aKilledImportLeavesNoEventsOrAllOfThem() async throws {
        var random = Self.random("import")
        let scratch = try FaultScratch()
        let source = scratch.at("source")
        try prepare(source, users: 400, events: 4_000)
        let export = try runAuthctl(["--data", source, "export"])
        #expect(export.status == 0)
        let file = scratch.at("export.jsonl")
        try export.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let events = try eventCount(source)
        let started = Date()
        #expect(
            try runAuthctl(["--data", scratch.at("timed"), "import", file], ["AUTHLOG_KEK_FILE": source + "/kek"])
                .status == 0)
        let duration = Date().timeIntervalSince(started)
        var done = 0
        var notDone = 0
        var stagingLeft = 0
        var betweenMoves = 0
        for round in 0..<Self.kills {
            let target = scratch.at("round\(round)")
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
            chmod(target, 0o700)
            try FileManager.default.copyItem(atPath: source + "/kek", toPath: target + "/kek")
            let finished = killAuthctl(["--data", target, "import", file], after: delay(&random, upTo: duration * 1.8))
            #expect(finished == nil || finished == 0, "round \(round): import exited \(finished ?? -1)")
            if FileManager.default.fileExists(atPath: target + "/data.mdb") {
                #expect(try eventCount(target) == events, "round \(round): a killed import left part of the log")
                #expect(try runAuthctl(["--data", target, "verify"]).status == 0, "round \(round)")
                done += 1
            } else {
                notDone += 1
            }
            let staging = target + "/import.partial"
            if FileManager.default.fileExists(atPath: staging) {
                stagingLeft += 1
                let told = try runAuthctl(["--data", target, "verify"])
                #expect(told.stderr.contains("import.partial"), "round \(round): \(told.stderr)")
            }
            if FileManager.default.fileExists(atPath: staging + "/moving"),
                !FileManager.default.fileExists(atPath: staging + "/keys")
            {
                betweenMoves += 1
            }
            // The next import copes: it starts over, or refuses a directory the killed one filled.
            let again = try runAuthctl(["--data", target, "import", file])
            #expect(again.status == 0 || again.stderr.contains("already holds \(events) events"), "\(again.stderr)")
            #expect(!FileManager.default.fileExists(atPath: target + "/import.partial/data.mdb"), "round \(round)")
            #expect(try eventCount(target) == events, "round \(round)")
            #expect(try runAuthctl(["--data", target, "verify"]).status == 0, "round \(round)")
            try await expectServes(target, round: round)
            try FileManager.default.removeItem(atPath: target)
        }
        print(
            "import kill campaign: \(Self.kills) kills; import done \(done), not done \(notDone) "
                + "(import.partial left \(stagingLeft) times, \(betweenMoves) of them between the two moves; "
                + "the next import coped every time); half done: 0")
        #expect(done + notDone == Self.kills)
    }

    @Test func aKilledEraseIsFinishedByErasingAgain() async throws {
        var random = Self.random("erase")
        let scratch = try FaultScratch()
        let data = scratch.at("data")
        try prepare(data, users: 200, events: 2_000)
        // Users registered through authd: each has a verification mail waiting, with their address.
        let users = try await register(Self.kills + 1, in: data)
        let started = Date()
        #expect(try runAuthctl(["--data", data, "erase", users[Self.kills].id]).status == 0)
        let duration = Date().timeIntervalSince(started)
        var done = 0
        var notDone = 0
        var eventOnly = 0
        for round in 0..<Self.kills {
            let (id, email) = users[round]
            let finished = killAuthctl(["--data", data, "erase", id], after: delay(&random, upTo: duration * 1.8))
            #expect(finished == nil || finished == 0, "round \(round): erase exited \(finished ?? -1)")
            #expect(try runAuthctl(["--data", data, "verify"]).status == 0, "round \(round)")
            let trail = try runAuthctl(["--data", data, "history", id, "--json"])
            if !trail.stdout.contains("UserErased") {
                notDone += 1
            } else if finished == 0 {
                done += 1
            } else {
                eventOnly += 1
            }
            // Erasing again reports success, and then nothing of the user is readable anywhere.
            let again = try runAuthctl(["--data", data, "erase", id])
            #expect(again.status == 0, "round \(round): \(again.stderr)")
            let after = try runAuthctl(["--data", data, "history", id, "--json"])
            #expect(after.status == 0 && !after.stdout.contains(email), "round \(round): \(after.stdout)")
            #expect(
                filesContaining(Array(email.utf8), under: data).isEmpty,
                "round \(round): \(filesContaining(Array(email.utf8), under: data))")
            try await expectServes(data, round: round)
        }
        print(
            "erase kill campaign: \(Self.kills) kills; erase done \(done), not done \(notDone), "
                + "stopped after its event \(eventOnly) (each finished by erasing again); readable after success: 0")
        #expect(done + notDone + eventOnly == Self.kills)
    }

    /// An admin (root@example.com) and a seeded history, its projections built.
    func prepare(_ data: String, users: Int, events: Int) throws {
        let created = try runAuthctl(
            ["--data", data, "create-admin", "--email", "root@example.com"], input: Self.password + "\n")
        #expect(created.status == 0, "\(created.stderr)")
        let seeded = try runAuthctl(
            ["--data", data, "seed", "--force", "--users", "\(users)", "--events", "\(events)"])
        #expect(seeded.status == 0, "\(seeded.stderr)")
        #expect(try runAuthctl(["--data", data, "rebuild"]).status == 0)
    }

    /// Registers `count` users through authd; returns their ids and addresses.
    func register(_ count: Int, in data: String) async throws -> [(id: String, email: String)] {
        let server = try StartedAuthd(data: data, arguments: ["--registration-rate-limit", "1000000"])
        defer { server.stop() }
        let client = CampaignClient(port: server.port, ledger: Ledger())
        var users: [(String, String)] = []
        for number in 0..<count {
            let email = "erasable\(number)@example.com"
            let reply = try await client.post(
                "/v1/users",
                ["email": email, "password": "a long enough password \(number)", "first_name": "E", "last_name": "R"])
            #expect(reply.status == 201, "\(reply.json)")
            users.append((reply.json["id"] as? String ?? "", email))
        }
        return users
    }

    /// authd starts on `data`, the admin signs in, and a page of users reads back.
    func expectServes(_ data: String, round: Int) async throws {
        let server = try StartedAuthd(data: data)
        defer { server.stop() }
        guard server.port != 0 else {
            Issue.record("round \(round): authd did not start: \(server.output)")
            return
        }
        let client = CampaignClient(port: server.port, ledger: Ledger())
        let login = try await client.post("/v1/sessions", ["email": "root@example.com", "password": Self.password])
        #expect(login.status == 200, "round \(round): \(login.json)")
        let page = try await client.request(
            "GET", "/v1/users?role=TARGET&limit=5", nil, token: login.json["access_token"] as? String)
        #expect(page.status == 200 && (page.json["users"] as? [Any])?.isEmpty == false, "round \(round)")
    }

    func delay(_ random: inout SplitMix64, upTo seconds: Double) -> Double {
        Double(random.next() % 1_000_000) / 1_000_000 * seconds
    }

    func eventCount(_ data: String) throws -> Int {
        let stats = try runAuthctl(["--data", data, "stats", "--json"])
        return (try? JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any])?["events"]
            as? Int ?? -1
    }

    func projectionGeneration(_ data: String) throws -> Int {
        let stats = try runAuthctl(["--data", data, "stats", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
        let users = (object?["projections"] as? [String: Any])?["users"] as? [String: Any]
        return try #require(users?["generation"] as? Int)
    }
}

/// Runs authctl with `arguments` and kills it with SIGKILL after `seconds`; returns its exit
/// status if it ended before the kill, `nil` if the kill ended it.
func killAuthctl(_ arguments: [String], after seconds: Double, environment: [String: String] = [:]) -> Int32? {
    let process = authctlProcess(arguments)
    process.environment = cleanEnvironment(environment)
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return -1 }
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning && Date() < deadline { usleep(2_000) }
    guard process.isRunning else { return process.terminationStatus }
    kill(process.processIdentifier, SIGKILL)
    process.waitForExit()
    return process.terminationReason == .uncaughtSignal ? nil : process.terminationStatus
}

/// A fresh directory for one campaign, removed afterwards.
final class FaultScratch {
    let path = NSTemporaryDirectory() + "authd-faults-" + UUID().uuidString

    init() throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func at(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
