import Foundation
import PostgresTestSupport
import TestSupport
import Testing

/// Three authd nodes sharing one log on PostgreSQL, each with its own data directory and
/// the same key-encryption key, as tools/cluster/start.sh runs them.
final class Cluster {
    /// The shared log's database; `name` is empty when the cluster was given a URL.
    let database: (name: String, url: String)
    let kek: String
    private(set) var nodes: [RunningServer] = []

    /// A cluster on a new database of the test server, or on the database `logURL` names.
    init(nodes count: Int = 3, arguments: [String] = [], logURL: String? = nil, kek given: String? = nil) throws {
        database = try logURL.map { ("", $0) } ?? TestPostgres.createDatabase(prefix: "authlog_cluster")
        var bytes = [UInt8](repeating: 0, count: 32)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
        kek = given ?? bytes.map { String(format: "%02x", $0) }.joined()
        for _ in 0..<count { nodes.append(try startNode(arguments: arguments)) }
    }

    deinit {
        nodes.removeAll()  // stops every node before the database goes
        if !database.name.isEmpty { TestPostgres.dropDatabase(database.name) }
    }

    /// Starts one more node on the shared log, with its own data directory (or `data`, a
    /// node's directory kept after ``RunningServer/kill()``).
    func startNode(arguments: [String] = [], data: String? = nil) throws -> RunningServer {
        try RunningServer(
            arguments: [
                "--log-url", database.url, "--registration-rate-limit", "1000000", "--rate-limit", "1000000",
                "--login-failures-per-account", "1000000", "--login-failures-per-address", "1000000",
            ] + arguments,
            environment: ["AUTHLOG_KEK": kek], data: data)
    }

    func replace(_ index: Int, with node: RunningServer) { nodes[index] = node }

    /// Stops every node (SIGTERM, waiting for each), keeping their data directories until the
    /// cluster goes.
    func stopNodes() {
        for node in nodes where node.process.isRunning {
            node.process.terminate()
            node.process.waitForExit()
        }
    }
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

@Suite(.ownThreads, .serialized, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
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

    /// A client may send any `Authlog-Min-Position`, the largest number too: once the wait is
    /// over the read gets 503 with Retry-After, and the node's copy does not go on reading the
    /// shared log at every look for a position no one wrote. The node's own writes after it
    /// are copied as its writer hands them over: about a read a second (the poll), not a read
    /// a write (`authlog_copy_shared_log_reads_total`).
    @Test func aReadForAPositionNoOneWroteLeavesTheCopyToItsOwnWrites() async throws {
        let cluster = try Cluster(nodes: 1, arguments: ["--min-position-wait", "0.3"])
        let node = cluster.nodes[0]
        let user = try await node.signUp("far-\(UUID().uuidString.prefix(8))@example.com")
        let far = try await node.call(
            "GET", "/v1/users/me", token: user.accessToken, headers: ["Authlog-Min-Position": "\(UInt64.max)"])
        #expect(far.status == 503 && far.headers["retry-after"] != nil, "\(far.status) \(far.headers)")
        let clock = ContinuousClock()
        let start = clock.now
        let before = try await node.metric("authlog_copy_shared_log_reads_total")
        let writes = 40
        for round in 0..<writes {
            let written = try await node.call(
                "PATCH", "/v1/users/\(user.id)", json: ["first_name": "Far\(round)"], token: user.accessToken)
            #expect(written.status == 200, "round \(round): \(written.status) \(written.code ?? "")")
        }
        let reads = try await node.metric("authlog_copy_shared_log_reads_total") - before
        // A poll a second, counted by whole seconds begun, and a read at each end of the span.
        let seconds = Int((clock.now - start).components.seconds) + 1
        #expect(reads <= seconds + 2, "\(reads) reads of the shared log for \(writes) writes in \(seconds) s")
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
                            json: [
                                "email": email, "password": RunningServer.password, "first_name": "A", "last_name": "B",
                            ])
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

    /// A node's copy that the shared log does not continue (the node pointed at another log,
    /// or the log restored from an older backup) is written aside at start and made again:
    /// the node serves the shared log as it is.
    @Test func aCopyTheSharedLogDoesNotContinueIsMadeAgainAtStart() async throws {
        let first = try Cluster(nodes: 1)
        let before = try await first.nodes[0].signUp("first-\(UUID().uuidString.prefix(8))@example.com")
        let data = first.nodes[0].data
        first.stopNodes()
        let copy = NSTemporaryDirectory() + "authd-diverged-" + UUID().uuidString
        try FileManager.default.copyItem(atPath: data, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }

        let second = try Cluster(nodes: 1, kek: first.kek)
        let other = try await second.nodes[0].signUp("second-\(UUID().uuidString.prefix(8))@example.com")
        _ = try await second.nodes[0].signUp("third-\(UUID().uuidString.prefix(8))@example.com")
        let remade = try second.startNode(data: copy)
        #expect(remade.startupOutput.contains("making the copy again"), "\(remade.startupOutput)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: copy).filter { $0.hasPrefix("diverged-") }
        #expect(aside.count == 1)
        let read = try await remade.call(
            "GET", "/v1/users/me", token: other.accessToken, headers: ["Authlog-Min-Position": other.position])
        #expect(read.status == 200 && read.json["email"] as? String == other.email, "\(read.status) \(read.json)")
        let gone = try await remade.call(
            "POST", "/v1/sessions", json: ["email": before.email, "password": RunningServer.password])
        #expect(gone.status == 401, "the first log's user signed in on the second log: \(gone.status)")
    }

    /// The shared log restored from a backup older than the nodes' copies, while they serve,
    /// then written again: each running node finds that the log no longer continues its copy,
    /// writes the copy aside and makes it again, and goes on serving, with no restart. Reads
    /// then answer what the restored log holds (a user registered after the backup is gone; one
    /// registered after the restore is read at its position on both nodes).
    @Test func runningNodesMakeTheirCopyAgainWhenTheSharedLogIsRestoredFromABackup() async throws {
        let cluster = try Cluster(nodes: 2)
        let (writer, reader) = (cluster.nodes[0], cluster.nodes[1])
        let kept = try await reader.signUp("kept-\(UUID().uuidString.prefix(8))@example.com")
        let backup = NSTemporaryDirectory() + "authlog-backup-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: backup) }
        try TestPostgres.backUp(cluster.database.name, to: backup)
        let lost = try await writer.signUp("lost-\(UUID().uuidString.prefix(8))@example.com")
        for node in [writer, reader] {
            let read = try await node.call(
                "GET", "/v1/users/me", token: lost.accessToken, headers: ["Authlog-Min-Position": lost.position])
            #expect(read.status == 200, "\(read.status) \(read.code ?? "")")
        }

        try TestPostgres.restore(backup, into: cluster.database.name)
        // Written through the node that wrote nothing past the backup: the other refuses its
        // own writes while the restored log is shorter than the head it committed (a log cut
        // back, by the trust rules).
        let after = try await reader.signUp("after-\(UUID().uuidString.prefix(8))@example.com")
        // Written on past the old copies' head, so that a read at the last position must wait
        // for a copy that holds it: the old one cannot.
        var position = after.position
        while UInt64(position) ?? 0 <= UInt64(lost.position) ?? 0 {
            let changed = try await reader.call(
                "PATCH", "/v1/users/\(after.id)", json: ["first_name": "After\(position)"], token: after.accessToken)
            #expect(changed.status == 200, "\(changed.status) \(changed.json)")
            position = try #require(changed.headers["authlog-position"])
        }
        for node in [reader, writer] {
            let read = try await node.call(
                "GET", "/v1/users/me", token: after.accessToken, headers: ["Authlog-Min-Position": position])
            #expect(read.status == 200 && read.json["email"] as? String == after.email, "\(read.status) \(read.json)")
            let keptRead = try await node.call(
                "GET", "/v1/users/me", token: kept.accessToken, headers: ["Authlog-Min-Position": position])
            #expect(keptRead.status == 200 && keptRead.json["email"] as? String == kept.email, "\(keptRead.json)")
            let gone = try await node.call(
                "POST", "/v1/sessions", json: ["email": lost.email, "password": RunningServer.password])
            #expect(gone.status == 401, "a user the restored log does not hold signed in: \(gone.status)")
            let lostRead = try await node.call(
                "GET", "/v1/users/me", token: lost.accessToken, headers: ["Authlog-Min-Position": position])
            #expect(lostRead.status == 401, "\(lostRead.status) \(lostRead.json)")
            #expect(node.process.isRunning)
            let aside = try FileManager.default.contentsOfDirectory(atPath: node.data).filter {
                $0.hasPrefix("diverged-")
            }
            #expect(aside.count == 1, "\(node.data): \(aside)")
        }
        cluster.stopNodes()
        for node in [writer, reader] {
            let output = node.remainingOutput()
            #expect(output.contains("making the copy again"), "\(output)")
            #expect(output.contains("made this node's copy of the shared log again"), "\(output)")
        }
    }

    /// The receiver's acknowledged messages: (position, webhook-id), in the order received.
    static func received(_ receiver: WebhookTests.Receiver) -> [(position: Int, id: String)] {
        receiver.requests().compactMap { request in
            guard request["status"] as? Int == 200, request["verified"] as? Bool == true,
                let position = request["position"] as? Int, let id = request["id"] as? String
            else { return nil }
            return (position, id)
        }
    }

    /// A node's webhook endpoint after the shared log is restored from an older backup, then
    /// written again: the registration the restored log holds at the position of one the
    /// endpoint was sent before is sent too, under another id. On the code before, the
    /// endpoint's checkpoint stood past that position and it was never sent.
    @Test func aNodesWebhooksSendWhatARestoredLogHoldsAtPositionsAlreadySent() async throws {
        let cluster = try Cluster(nodes: 2)
        let (writer, reader) = (cluster.nodes[0], cluster.nodes[1])
        let receiver = try WebhookTests.Receiver()
        _ = try WebhookTests.addEndpoint(writer.data, receiver, events: "UserRegistered", after: 0, cluster: cluster)
        _ = try await reader.signUp("kept-\(UUID().uuidString.prefix(8))@example.com")
        #expect(try await eventually(within: 30) { Self.received(receiver).count == 1 })
        let backup = NSTemporaryDirectory() + "authlog-backup-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: backup) }
        try TestPostgres.backUp(cluster.database.name, to: backup)
        _ = try await writer.signUp("lost-\(UUID().uuidString.prefix(8))@example.com")
        #expect(try await eventually(within: 30) { Self.received(receiver).count == 2 })
        let lost = try #require(Self.received(receiver).last)

        try TestPostgres.restore(backup, into: cluster.database.name)
        // Through the node that wrote nothing past the backup (the other refuses its writes).
        _ = try await reader.signUp("after-\(UUID().uuidString.prefix(8))@example.com")
        let sent = try await eventually(within: 30) {
            Self.received(receiver).contains { $0.position == lost.position && $0.id != lost.id }
        }
        #expect(sent, "received: \(Self.received(receiver))")
        cluster.stopNodes()
        let output = writer.remainingOutput()
        #expect(output.contains("the log no longer holds the events this webhook endpoint was sent"), "\(output)")
    }

    /// A node's copy whose files no longer hold a readable log (a system crash can leave a copy
    /// written with deferred sync so: garbled, or cut short) is moved aside at start and copied
    /// again: the node serves what the shared log holds. A copy cut short killed the node with
    /// SIGBUS before the check at opening.
    @Test(arguments: ["garbled", "cut short"])
    func aCopyThatCannotBeReadIsMovedAsideAndCopiedAgain(damage: String) async throws {
        let cluster = try Cluster(nodes: 1)
        let user = try await cluster.nodes[0].signUp("garbled-\(UUID().uuidString.prefix(8))@example.com")
        let data = cluster.nodes[0].data
        cluster.stopNodes()
        let file = try #require(FileHandle(forWritingAtPath: data + "/data.mdb"))
        if damage == "garbled" {
            try file.write(contentsOf: Data(repeating: 0xA5, count: 16_384))
        } else {
            // Past the two meta pages, short of the pages they name: the file's length is the
            // map's (its pages are written in the map), so half of it would still hold them all.
            try file.truncate(atOffset: 3 * 4_096)
        }
        try file.close()
        let restarted = try cluster.startNode(data: data)
        #expect(
            restarted.startupOutput.contains("moved this node's copy of the log aside"), "\(restarted.startupOutput)")
        let read = try await restarted.call(
            "GET", "/v1/users/me", token: user.accessToken, headers: ["Authlog-Min-Position": user.position])
        #expect(read.status == 200 && read.json["email"] as? String == user.email, "\(read.status) \(read.json)")
    }

    /// A node answers plain reads on its event loop as an embedded authd does, but only with
    /// the user's data key in memory: a restarted node has none, and its first read of a user
    /// goes the slow way (which fetches the key from PostgreSQL off the event loop); the next
    /// read of that user is answered fast, with the same body.
    @Test func aNodeAnswersReadsOnItsEventLoopOnlyWithTheKeyAtHand() async throws {
        let cluster = try Cluster(nodes: 1)
        let user = try await cluster.nodes[0].signUp("at-hand-\(UUID().uuidString.prefix(8))@example.com")
        let other = try await cluster.nodes[0].signUp("other-\(UUID().uuidString.prefix(8))@example.com")
        let data = cluster.nodes[0].data
        cluster.stopNodes()
        // Without the console, whose search index reads every user's address at start.
        let node = try cluster.startNode(arguments: ["--no-console"], data: data)
        let wire = FastReadsTests()  // its kept-alive connection's requests, and the counter
        // The token is verified (and cached) by a read the rules refuse before any personal
        // field is opened: the user may not read another user.
        let refused = try await node.call("GET", "/v1/users/\(other.id)", token: user.accessToken)
        #expect(refused.status == 403, "\(refused.status) \(refused.json)")
        #expect(try await wire.fastReads(node) == 0)

        let connection = try LoopbackConnection(port: node.port, from: "127.0.0.2")
        let first = try wire.get(connection, "/v1/users/me", token: user.accessToken)
        #expect(first.status.hasPrefix("HTTP/1.1 200"), "\(first.status)")
        #expect(try await wire.fastReads(node) == 0, "a key not at hand was fetched on the event loop")
        let second = try wire.get(connection, "/v1/users/me", token: user.accessToken)
        #expect(second == first)
        #expect(try await wire.fastReads(node) == 1)
        let body = try JSONSerialization.jsonObject(with: second.body) as? [String: Any]
        #expect(body?["email"] as? String == user.email)
    }

    /// Mail is a side effect of the command, sent by the node that ran it: a registration and
    /// a reset request through one node give one message each across the whole cluster, even
    /// after every node has copied the events.
    @Test func eachMessageIsWrittenOnceAcrossTheCluster() async throws {
        let cluster = try Cluster()
        let nodes = cluster.nodes
        let user = try await nodes[1].signUp("mail-\(UUID().uuidString.prefix(8))@example.com")
        let reset = try await nodes[2].call("POST", "/v1/password-resets", json: ["email": user.email])
        #expect(reset.status == 202)
        let head = try await nodes[0].call("POST", "/v1/sessions", json: ["email": user.email, "password": "wrong"])
        let position = head.headers["authlog-position"] ?? user.position
        var messages = 0
        for node in nodes {
            // Every node has copied the events before its maildir is counted.
            _ = try await node.call("GET", "/v1/users/me", headers: ["Authlog-Min-Position": position])
            let folder = node.data + "/maildir/new"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for name in names {
                let text = try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
                if text.contains("\r\nTo: \(user.email)\r\n") { messages += 1 }
            }
        }
        #expect(messages == 2, "expected the verification and the reset message once each, found \(messages)")
    }

    /// Reset mails for one account are limited across the cluster, not node by node: with
    /// `--resets-per-account 3`, six requests, two through each node (within each node's own
    /// limit of requests), all sent at once, are all answered 202 and mail three links in all,
    /// each of them issued (the newest works). Before, each node counted alone, and all six
    /// were mailed.
    @Test func resetMailsForOneAccountAreLimitedAcrossTheCluster() async throws {
        let cluster = try Cluster(arguments: ["--resets-per-account", "3"])
        let nodes = cluster.nodes
        let user = try await nodes[0].signUp("resets-\(UUID().uuidString.prefix(8))@example.com")
        // All at once: a node deciding on a copy that has not seen the others' requests finds
        // its append in conflict and decides again on the shared log's stream; a request that
        // issues nothing mails nothing, whatever was appended meanwhile.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for round in 0..<6 {
                group.addTask {
                    try await nodes[round % 3].call("POST", "/v1/password-resets", json: ["email": user.email]).status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses == [202, 202, 202, 202, 202, 202])
        // Each message is written by the node that ran the request, before its answer.
        var resets = 0
        var links: [String] = []
        for node in nodes {
            let folder = node.data + "/maildir/new"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                let text = try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
                if text.contains("\r\nTo: \(user.email)\r\n") && text.contains("Subject: Reset") {
                    resets += 1
                    links += tokens(in: text).prefix(1)
                }
            }
        }
        #expect(resets == 3)
        var working = 0
        for token in links {
            let confirmed = try await nodes[0].call(
                "POST", "/v1/password-resets/confirm", json: ["token": token, "new_password": "the owner's own"])
            if confirmed.status == 204 { working += 1 }
        }
        #expect(working == 1)
    }

    /// `authd --rotate-signing-key --log-url` with a URL naming a database without the shared
    /// log (mistyped, say) is refused, and the database left as it was: no log, key store or
    /// log signing key made there for a key nobody would use. Before, it made them all and
    /// added the key.
    @Test func aSigningKeyRotationAtADatabaseWithoutTheLogIsRefused() throws {
        let database = try TestPostgres.createDatabase(prefix: "authlog_cluster")
        defer { TestPostgres.dropDatabase(database.name) }
        let data = NSTemporaryDirectory() + "authd-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        var kek = [UInt8](repeating: 0, count: 32)
        for index in kek.indices { kek[index] = UInt8.random(in: 0...255) }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }.merging([
            "AUTHLOG_KEK": kek.map { String(format: "%02x", $0) }.joined()
        ]) { $1 }
        let rotation = try runProcess(
            products().appendingPathComponent("authd"),
            ["--data", data, "--log-url", database.url, "--rotate-signing-key"], environment: environment)
        #expect(
            rotation.status != 0 && rotation.stderr.contains("no event log in"), "\(rotation.stdout) \(rotation.stderr)"
        )
        let tables = try TestPostgres.count(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'authlog'", database: database.name)
        #expect(tables == 0)
    }

    /// An erase deletes the waiting mail of the process that runs it. Each node holds its own
    /// outbox, so a node's mail for a user erased elsewhere (here by authctl on the shared
    /// log, mail waiting because the node has no SMTP relay) is deleted once the node has
    /// copied the erasure. Before, it waited there, address, names and token, for good.
    @Test func aUserErasedElsewhereLeavesNoMailInANodesOutbox() async throws {
        let cluster = try Cluster(nodes: 1)
        let node = cluster.nodes[0]
        let user = try await node.signUp("erased-\(UUID().uuidString.prefix(8))@example.com")
        let header = "\r\nX-Authlog-User: \(user.id.lowercased())\r\n"
        func held() -> [String] {
            ["new", "cur", "tmp", "failed"].flatMap { sub in
                let folder = node.data + "/maildir/" + sub
                return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { name in
                    (try? String(contentsOfFile: folder + "/" + name, encoding: .utf8))?.contains(header) == true
                }
            }
        }
        #expect(held().count == 1, "the verification mail waits in the node's outbox")
        let scratch = NSTemporaryDirectory() + "authctl-erase-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        environment["AUTHLOG_KEK"] = cluster.kek
        let erased = try runProcess(
            products().appendingPathComponent("authctl"),
            ["--log-url", cluster.database.url, "--data", scratch, "erase", user.email], environment: environment)
        #expect(erased.status == 0, "\(erased.stderr)")
        // The node reads the erasure from the shared log: its user reads back erased.
        let deadline = Date().addingTimeInterval(30)
        while !held().isEmpty, Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(held().isEmpty, "the erased user's mail is still in the node's outbox")
    }

    /// A node whose copy holds events started on an empty shared log (emptied behind its
    /// back, or a new database given by mistake) does not start: nothing signs an empty log,
    /// so it replaces no copy. It says so in one line and keeps its copy; started on an empty
    /// data directory it serves the empty log.
    @Test func anEmptySharedLogReplacesNoCopyAtStart() async throws {
        let first = try Cluster(nodes: 1)
        _ = try await first.nodes[0].signUp("early-\(UUID().uuidString.prefix(8))@example.com")
        let data = first.nodes[0].data
        first.stopNodes()
        let copy = NSTemporaryDirectory() + "authd-ahead-" + UUID().uuidString
        try FileManager.default.copyItem(atPath: data, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }

        let empty = try Cluster(nodes: 0, kek: first.kek)
        do {
            _ = try empty.startNode(data: copy)
            Issue.record("a node started on an empty shared log over a copy holding events")
        } catch RunningServer.ServerError.didNotStart(let output) {
            #expect(output.contains("the shared log ends before this copy's head"), "\(output)")
            #expect(output.contains("it is empty, with no signed head"), "\(output)")
        }
        let kept = try FileManager.default.contentsOfDirectory(atPath: copy)
        #expect(kept.contains("data.mdb"), "the copy was moved: \(kept)")
        let fresh = try empty.startNode()
        let health = try await fresh.call("GET", "/v1/users/me")
        #expect(health.status == 401)
    }
}
