import Foundation
import PostgresTestSupport
import Testing

/// Three authd nodes sharing one log on PostgreSQL, each with its own data directory and
/// the same key-encryption key, as tools/cluster/start.sh runs them.
final class Cluster {
    let database: (name: String, url: String)
    let kek: String
    private(set) var nodes: [RunningServer] = []

    init(nodes count: Int = 3, arguments: [String] = []) throws {
        database = try TestPostgres.createDatabase(prefix: "authlog_cluster")
        var bytes = [UInt8](repeating: 0, count: 32)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
        kek = bytes.map { String(format: "%02x", $0) }.joined()
        for _ in 0..<count { nodes.append(try startNode(arguments: arguments)) }
    }

    deinit {
        nodes.removeAll()  // stops every node before the database goes
        TestPostgres.dropDatabase(database.name)
    }

    /// Starts one more node on the shared log, with its own data directory.
    func startNode(arguments: [String] = []) throws -> RunningServer {
        try RunningServer(
            arguments: [
                "--log-url", database.url, "--registration-rate-limit", "1000000", "--rate-limit", "1000000",
                "--login-failures-per-account", "1000000", "--login-failures-per-address", "1000000",
            ] + arguments,
            environment: ["AUTHLOG_KEK": kek])
    }

    func replace(_ index: Int, with node: RunningServer) { nodes[index] = node }
}

/// A user registered and signed in through a cluster: the tokens and the position of the login.
struct SignedIn {
    var id: String
    var email: String
    var accessToken: String
    var position: String
}

extension RunningServer {
    static let password = "correct horse battery staple"

    func signUp(_ email: String) async throws -> SignedIn {
        let registered = try await call(
            "POST", "/v1/users", json: ["email": email, "password": Self.password, "first_name": "A", "last_name": "B"])
        guard registered.status == 201, let id = registered.json["id"] as? String else {
            throw Failed("registration answered \(registered.status) \(registered.code ?? "")")
        }
        let login = try await call("POST", "/v1/sessions", json: ["email": email, "password": Self.password])
        guard login.status == 200, let token = login.json["access_token"] as? String,
            let position = login.headers["authlog-position"]
        else {
            throw Failed("login answered \(login.status) \(login.code ?? "")")
        }
        return SignedIn(id: id, email: email, accessToken: token, position: position)
    }
}

// A node's process and port are set once, when it starts; calls from several tasks share it.
extension RunningServer: @unchecked Sendable {}

struct Failed: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite(.serialized, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct ClusterTests {
    /// Read-your-writes across nodes: a profile change through one node, read at once through
    /// the next with the position the write answered, 1,000 times; the read always sees it.
    @Test func aWriteOnOneNodeIsReadOnAnotherAtItsPosition() async throws {
        let cluster = try Cluster()
        let nodes = cluster.nodes
        let user = try await nodes[0].signUp("ryw-\(UUID().uuidString.prefix(8))@example.com")
        var position = user.position
        var stale = 0
        for round in 0..<1_000 {
            let writer = nodes[round % 3]
            let reader = nodes[(round + 1) % 3]
            let name = "Name\(round)"
            let written = try await writer.call(
                "PATCH", "/v1/users/\(user.id)", json: ["first_name": name], token: user.accessToken,
                headers: ["Authlog-Min-Position": position])
            #expect(written.status == 200, "round \(round): \(written.status) \(written.code ?? "")")
            guard let at = written.headers["authlog-position"] else {
                Issue.record("round \(round): the write named no position")
                return
            }
            position = at
            let read = try await reader.call(
                "GET", "/v1/users/me", token: user.accessToken, headers: ["Authlog-Min-Position": at])
            #expect(read.status == 200, "round \(round): \(read.status) \(read.code ?? "")")
            if read.json["first_name"] as? String != name { stale += 1 }
        }
        #expect(stale == 0, "\(stale) of 1,000 reads missed the write before them")
    }

    /// The same email registered at once through all three nodes, 100 rounds: exactly one
    /// registration succeeds each round; the others are told the email is taken.
    @Test func oneEmailRegisteredThroughEveryNodeAtOnceSucceedsOnce() async throws {
        let cluster = try Cluster()
        let nodes = cluster.nodes
        for round in 0..<100 {
            let email = "race-\(round)-\(UUID().uuidString.prefix(6))@example.com"
            let statuses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for node in nodes {
                    group.addTask {
                        let reply = try await node.call(
                            "POST", "/v1/users",
                            json: ["email": email, "password": RunningServer.password, "first_name": "A", "last_name": "B"])
                        return (reply.status, reply.code)
                    }
                }
                var all: [(Int, String?)] = []
                for try await status in group { all.append(status) }
                return all
            }
            #expect(statuses.filter { $0.0 == 201 }.count == 1, "round \(round): \(statuses)")
            #expect(statuses.filter { $0.0 == 409 && $0.1 == "email_taken" }.count == 2, "round \(round): \(statuses)")
        }
    }

    /// Three fields of one user changed at once through three nodes, 50 rounds: every change
    /// lands (a node that decided on an older version retries; none overwrites another's).
    @Test func concurrentChangesToOneUserThroughDifferentNodesAreNotLost() async throws {
        let cluster = try Cluster()
        let nodes = cluster.nodes
        let user = try await nodes[0].signUp("lost-\(UUID().uuidString.prefix(8))@example.com")
        var position = user.position
        for round in 0..<50 {
            let changes: [[String: String]] = [
                ["first_name": "First\(round)"], ["last_name": "Last\(round)"], ["phone": "+1555000\(1000 + round)"],
            ]
            let positions = try await withThrowingTaskGroup(of: UInt64.self) { group in
                for (index, node) in nodes.enumerated() {
                    group.addTask { [position] in
                        let reply = try await node.call(
                            "PATCH", "/v1/users/\(user.id)", json: changes[index], token: user.accessToken,
                            headers: ["Authlog-Min-Position": position])
                        guard reply.status == 200 else {
                            throw Failed("round \(round), node \(index): \(reply.status) \(reply.code ?? "")")
                        }
                        return UInt64(reply.headers["authlog-position"] ?? "") ?? 0
                    }
                }
                var all: [UInt64] = []
                for try await at in group { all.append(at) }
                return all
            }
            position = String(positions.max() ?? 0)
            let read = try await nodes[round % 3].call(
                "GET", "/v1/users/me", token: user.accessToken, headers: ["Authlog-Min-Position": position])
            #expect(read.json["first_name"] as? String == "First\(round)", "round \(round): \(read.json)")
            #expect(read.json["last_name"] as? String == "Last\(round)", "round \(round): \(read.json)")
            #expect(read.json["phone"] as? String == "+1555000\(1000 + round)", "round \(round): \(read.json)")
        }
    }
}
