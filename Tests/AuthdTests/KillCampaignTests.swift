import AuthDomain
import EventLog
import Foundation
import Synchronization
import TestSupport
import Testing

/// Kills authd with SIGKILL at random moments under mixed load from many clients, restarts it,
/// and checks after every restart that the log is intact and signed, that every write the
/// clients were told about (2xx) is in the log exactly once with what they were told, and
/// that every refresh token handed out still works or the log says why. At the end the
/// projections must equal a rebuild.
@Suite(.ownThreads) struct KillCampaignTests {
    static let kills = 50
    static let clients = 16

    @Test func everyAcknowledgedWriteSurvivesFiftyKills() async throws {
        let seed =
            UInt64(ProcessInfo.processInfo.environment["AUTHLOG_KILL_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        print("kill campaign: seed \(seed) (AUTHLOG_KILL_SEED=\(seed) replays it)")
        var random = SplitMix64(seed: seed)
        let ledger = Ledger()
        let data = NSTemporaryDirectory() + "authd-kills-" + UUID().uuidString
        // A failed campaign keeps its directory for a look; a passed one leaves nothing.
        defer {
            if ledger.totals().lost == 0 {
                try? FileManager.default.removeItem(atPath: data)
            } else {
                print("kill campaign: kept \(data)")
            }
        }
        let created = try runAuthctl(
            ["--data", data, "create-admin", "--email", "root@example.com"], input: "the root passphrase\n")
        #expect(created.status == 0, "\(created.stderr)")
        var kills = 0
        for round in 0..<Self.kills {
            let server = try StartedAuthd(data: data, arguments: ["--rate-limit", "1000000"])
            guard server.port != 0 else {
                Issue.record("round \(round): authd did not start after a kill: \(server.output)")
                return
            }
            let client = CampaignClient(port: server.port, ledger: ledger)
            if round > 0 { try await check(data: data, client: client, ledger: ledger, round: round) }
            try await client.signInAdmin()
            let load = Task {
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<Self.clients {
                        group.addTask { await client.work(seed: seed &+ UInt64(round * 100 + worker)) }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(Int(150 + random.next() % 450)))
            kill(server.process.processIdentifier, SIGKILL)
            server.process.waitForExit()
            kills += 1
            // Every client stops at its first failed request.
            await load.value
        }
        // One last start: everything checked once more, then the projections against a rebuild.
        let server = try StartedAuthd(data: data, arguments: ["--rate-limit", "1000000"])
        let client = CampaignClient(port: server.port, ledger: ledger)
        try await check(data: data, client: client, ledger: ledger, round: Self.kills)
        server.stop()
        let before = try projectedUsers(data)
        let rebuilt = try runAuthctl(["--data", data, "rebuild"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(try projectedUsers(data) == before, "the projections differ from a rebuild")
        let totals = ledger.totals()
        print("kill campaign: \(kills) kills, \(totals.acknowledged) acknowledged writes, lost: \(totals.lost)")
        #expect(kills == Self.kills && totals.acknowledged > 100 && totals.lost == 0)
    }

    /// The checks after a restart: the log verifies and holds every acknowledged write once.
    func check(data: String, client: CampaignClient, ledger: Ledger, round: Int) async throws {
        let verify = try runAuthctl(["--data", data, "verify"])
        #expect(verify.status == 0, "round \(round): \(verify.stderr)")
        let export = try runAuthctl(["--data", data, "export", "--readable"])
        #expect(export.status == 0, "round \(round): \(export.stderr)")
        let events = export.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["kind"] as? String == "event" }
        let lost = ledger.findLost(in: events)
        for message in lost { Issue.record("round \(round): \(message)") }
        // Every refresh token handed out works, or the log says why it does not.
        for (user, token) in ledger.latestTokens() {
            let reply = try await client.post("/v1/sessions/refresh", ["refresh_token": token])
            if reply.status == 200, let next = reply.json["refresh_token"] as? String {
                ledger.issued(token: next, user: user)
            } else if !ledger.sessionEnded(token: token, in: events) {
                Issue.record(
                    "round \(round): a refresh token of \(user) is dead (\(reply.status)) and the log says nothing")
                ledger.countLost()
            } else {
                ledger.forget(token: token)
            }
        }
    }

    /// Every role's users, deleted ones too, as `authctl users list` prints them.
    func projectedUsers(_ data: String) throws -> [String] {
        try Role.allCases.map { role in
            let list = try runAuthctl(
                [
                    "--data", data, "users", "list", "--role", role.rawValue, "--include-deleted", "--limit", "1000",
                    "--json",
                ])
            #expect(list.status == 0, "\(list.stderr)")
            return list.stdout
        }
    }
}

/// What the clients were told, and what they asked without hearing back.
final class Ledger: Sendable {
    struct State {
        var registered: [String: String] = [:]  // email -> user id
        var names: [String: String] = [:]  // acknowledged first names (unique) -> user id
        var roles: [(user: String, role: String)] = []
        var deleted: Set<String> = []
        var tokens: [String: String] = [:]  // latest refresh token -> user id
        var passwords: [String: String] = [:]  // user id -> password
        var acknowledged = 0
        var lost = 0
        var counter = 0
    }
    private let state = Mutex(State())

    func next() -> Int {
        state.withLock {
            $0.counter += 1
            return $0.counter
        }
    }
    func registered(email: String, id: String, password: String) {
        state.withLock {
            $0.registered[email] = id
            $0.passwords[id] = password
            $0.acknowledged += 1
        }
    }
    func renamed(_ user: String, to name: String) {
        state.withLock {
            $0.names[name] = user
            $0.acknowledged += 1
        }
    }
    func roleChanged(_ user: String, to role: String) {
        state.withLock {
            $0.roles.append((user, role))
            $0.acknowledged += 1
        }
    }
    func deleted(_ user: String) {
        state.withLock {
            $0.deleted.insert(user)
            $0.acknowledged += 1
        }
    }
    func issued(token: String, user: String) {
        state.withLock {
            if let old = $0.tokens.first(where: { $0.value == user && sessionOf($0.key) == sessionOf(token) })?.key {
                $0.tokens[old] = nil
            }
            $0.tokens[token] = user
            $0.acknowledged += 1
        }
    }
    func forget(token: String) { state.withLock { $0.tokens[token] = nil } }
    func countLost() { state.withLock { $0.lost += 1 } }
    func latestTokens() -> [(String, String)] { state.withLock { $0.tokens.map { ($0.value, $0.key) } } }
    func someUser(_ random: inout SplitMix64) -> (id: String, email: String, password: String)? {
        state.withLock { state in
            guard !state.registered.isEmpty else { return nil }
            let (email, id) = state.registered[
                state.registered.index(
                    state.registered.startIndex, offsetBy: Int(random.next() % UInt64(state.registered.count)))]
            return (id, email, state.passwords[id] ?? "")
        }
    }
    func someToken(_ random: inout SplitMix64) -> (token: String, user: String)? {
        state.withLock { state in
            guard !state.tokens.isEmpty else { return nil }
            let (token, user) = state.tokens[
                state.tokens.index(state.tokens.startIndex, offsetBy: Int(random.next() % UInt64(state.tokens.count)))]
            return (token, user)
        }
    }
    func totals() -> (acknowledged: Int, lost: Int) { state.withLock { ($0.acknowledged, $0.lost) } }

    /// What the log lacks of what was acknowledged, or holds more than once.
    func findLost(in events: [[String: Any]]) -> [String] {
        var registrations: [String: Int] = [:]
        var names: [String: [String]] = [:]
        var roles: [String: Set<String>] = [:]
        var deletions: Set<String> = []
        for event in events {
            let stream = event["stream"] as? String ?? ""
            let fields = event["event"] as? [String: Any] ?? [:]
            switch event["type"] as? String {
            case "UserRegistered": registrations[fields["email"] as? String ?? "", default: 0] += 1
            case "ProfileUpdated":
                if let name = fields["first_name"] as? String { names[name, default: []].append(stream) }
            case "RoleChanged": roles[stream, default: []].insert(fields["to"] as? String ?? "")
            case "UserSoftDeleted": deletions.insert(stream)
            default: break
            }
        }
        return state.withLock { state in
            var missing: [String] = []
            for (email, _) in state.registered where registrations[email] != 1 {
                missing.append("registration of \(email) is in the log \(registrations[email] ?? 0) times")
            }
            for (name, user) in state.names where names[name] != [user] {
                missing.append(
                    "the acknowledged rename of \(user) to \(name) is in the log \(names[name]?.count ?? 0) times")
            }
            // A role set to the one the user holds records nothing; TARGET is every user's first.
            for (user, role) in state.roles where roles[user]?.contains(role) != true && role != "TARGET" {
                missing.append("the acknowledged role \(role) of \(user) is not in the log")
            }
            for user in state.deleted where !deletions.contains(user) {
                missing.append("the acknowledged soft-delete of \(user) is not in the log")
            }
            state.lost += missing.count
            return missing
        }
    }

    /// Whether the log holds, after the event that issued `token`, one that ends or moves on
    /// from its session.
    func sessionEnded(token: String, in events: [[String: Any]]) -> Bool {
        guard let parsed = RefreshToken(parsing: token) else { return false }
        let user = parsed.userID.uuidString.lowercased()
        let session = parsed.sessionID.uuidString.lowercased()
        let hash = parsed.secretHash.description
        let stream = events.filter { $0["stream"] as? String == user }
        guard
            let issued = stream.firstIndex(where: {
                ($0["event"] as? [String: Any])?["refresh_token_hash"] as? String == hash
            })
        else { return false }
        return stream[(issued + 1)...].contains { event in
            let fields = event["event"] as? [String: Any] ?? [:]
            switch event["type"] as? String {
            case "RefreshTokenRotated", "LoggedOut", "RefreshTokenReuseDetected":
                return fields["session_id"] as? String == session
            case "LoginSucceeded", "RoleChanged", "UserSoftDeleted", "PasswordResetCompleted", "PasswordChanged",
                "UserErased":
                return true
            default: return false
            }
        }
    }
}

private func sessionOf(_ token: String) -> UUID? { RefreshToken(parsing: token)?.sessionID }

/// One client of the campaign: mixed writes over HTTP against one authd.
final class CampaignClient: Sendable {
    let port: Int
    let ledger: Ledger
    let admin = Mutex<String>("")
    init(port: Int, ledger: Ledger) {
        self.port = port
        self.ledger = ledger
    }

    struct Reply {
        var status: Int
        var json: [String: Any]
    }

    func request(_ method: String, _ path: String, _ body: [String: Any]?, token: String? = nil) async throws -> Reply {
        var request = LoopbackRequest(method, path)
        if let body {
            request.body = try JSONSerialization.data(withJSONObject: body)
            request.headers.append(("Content-Type", "application/json"))
        }
        if let token { request.headers.append(("Authorization", "Bearer \(token)")) }
        let reply = try await request.send(port: port, timeout: 10)
        let json = (try? JSONSerialization.jsonObject(with: reply.body) as? [String: Any]) ?? [:]
        return Reply(status: reply.status, json: json)
    }

    func post(_ path: String, _ body: [String: Any]) async throws -> Reply { try await request("POST", path, body) }

    func signInAdmin() async throws {
        let reply = try await post("/v1/sessions", ["email": "root@example.com", "password": "the root passphrase"])
        #expect(reply.status == 200)
        admin.withLock { $0 = reply.json["access_token"] as? String ?? "" }
    }

    /// Sends writes until the server goes away; records each acknowledged one.
    func work(seed: UInt64) async {
        var random = SplitMix64(seed: seed)
        let token = admin.withLock { $0 }
        while true {
            do {
                try await step(&random, admin: token)
            } catch {
                return  // the server was killed: the request's outcome is unknown
            }
        }
    }

    func step(_ random: inout SplitMix64, admin: String) async throws {
        let roll = random.next() % 100
        if roll < 20 || ledger.someUser(&random) == nil {
            let number = ledger.next()
            let email = "user\(number)-\(random.next() % 1_000_000)@example.com"
            let password = "campaign password \(number)"
            let reply = try await post(
                "/v1/users", ["email": email, "password": password, "first_name": "F", "last_name": "L"])
            if reply.status == 201, let id = reply.json["id"] as? String {
                ledger.registered(email: email, id: id, password: password)
            }
        } else if roll < 35, let user = ledger.someUser(&random) {
            let reply = try await post("/v1/sessions", ["email": user.email, "password": user.password])
            if reply.status == 200, let refresh = reply.json["refresh_token"] as? String {
                ledger.issued(token: refresh, user: user.id)
            }
        } else if roll < 65, let held = ledger.someToken(&random) {
            let reply = try await post("/v1/sessions/refresh", ["refresh_token": held.token])
            if reply.status == 200, let refresh = reply.json["refresh_token"] as? String {
                ledger.issued(token: refresh, user: held.user)
            }
        } else if roll < 90, let user = ledger.someUser(&random) {
            let name = "Name\(ledger.next())"
            let reply = try await request("PATCH", "/v1/users/\(user.id)", ["first_name": name], token: admin)
            if reply.status == 200 { ledger.renamed(user.id, to: name) }
        } else if roll < 97, let user = ledger.someUser(&random) {
            let role = ["TARGET", "MANAGER", "MARKETING"][Int(random.next() % 3)]
            let reply = try await request("PUT", "/v1/users/\(user.id)/role", ["role": role], token: admin)
            if reply.status == 200 { ledger.roleChanged(user.id, to: role) }
        } else if let user = ledger.someUser(&random) {
            let reply = try await request("DELETE", "/v1/users/\(user.id)", nil, token: admin)
            if reply.status == 204 || reply.status == 200 { ledger.deleted(user.id) }
        }
    }
}
