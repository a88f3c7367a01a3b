import AuthDomain
import EventLog
import EventLogLMDB
import Foundation
import LMDB
import LMDBTestSupport
import TestSupport
import Testing

/// The attacks on the history that signed checkpoints answer, tried the way an attacker who
/// can write the data directory or a backup, but has no key-encryption key, would: with the
/// project's own code, recomputing every hash.
@Suite(.ownThreads) struct SignedLogTests {
    let password = "correct horse battery"

    /// A running authd with one registered TARGET user; returns the server and the user's id.
    func serverWithTarget() async throws -> (RunningServer, UUID) {
        let server = try RunningServer()
        let registered = try await server.call(
            "POST", "/v1/users",
            json: ["email": "mallory@example.com", "password": password, "first_name": "Mal", "last_name": "Lory"])
        #expect(registered.status == 201)
        return (server, try #require(UUID(uuidString: registered.json["id"] as? String ?? "")))
    }

    /// The attacker's events: the user becomes ADMIN, and a session starts with a refresh
    /// token whose secret the attacker chose.
    func escalation(of user: UUID) -> (events: [NewEvent], token: RefreshToken) {
        let token = RefreshToken(userID: user, sessionID: UUID(), secret: [UInt8](repeating: 0x41, count: 32))
        let events: [UserEvent] = [
            .roleChanged(from: .target, to: .admin),
            .loginSucceeded(.init(sessionID: token.sessionID, refreshTokenHash: token.secretHash)),
        ]
        return (events.map { $0.newEvent(actor: .system, correlationID: "forged") { $0 } }, token)
    }

    @Test func forgedEventsInTheDataDirectoryAreRefused() async throws {
        let (server, user) = try await serverWithTarget()
        server.process.terminate()
        server.process.waitForExit()
        // The attacker appends through the log's own code: the chain stays consistent.
        let (events, token) = escalation(of: user)
        let log = try LMDBEventLog(directory: server.data)
        let version = try log.readStream(user, from: 1).count
        _ = try await log.append(events, to: user, expecting: .exactly(UInt64(version)))
        log.close()

        let verify = try runAuthctl(["--data", server.data, "verify"])
        #expect(verify.status == 1)
        #expect(verify.stderr.contains("written without the signing key"), "\(verify.stderr)")

        let restarted = try StartedAuthd(data: server.data)
        defer { restarted.stop() }
        if restarted.port != 0 {
            // What the attack gained before: an ADMIN session from the chosen token.
            let refreshed = try await restarted.refresh(token.text)
            Issue.record("authd started on a forged log; refresh with the forged token gave \(refreshed)")
        }
        #expect(restarted.status == 2)
        #expect(restarted.output.contains("written without the signing key"), "\(restarted.output)")
    }

    @Test func aForgedBackupIsRefusedWithItsLine() async throws {
        let (server, user) = try await serverWithTarget()
        let kek = ["AUTHLOG_KEK_FILE": server.data + "/kek"]
        var lines = try exportLines(server.data)
        // Forged events appended after the signed head, chained on from the last event.
        let forged = try forgeEvents(escalation(of: user).events, user: user, after: lines)
        lines += forged
        let scratch = NSTemporaryDirectory() + "authd-forged-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: scratch + "/forged.jsonl", atomically: true, encoding: .utf8)
        let appended = try runAuthctl(["--data", scratch + "/restored", "import", scratch + "/forged.jsonl"], kek)
        #expect(appended.status == 2)
        #expect(appended.stderr.contains("line \(lines.count - forged.count + 1):"), "\(appended.stderr)")
        #expect(appended.stderr.contains("no signed head covers"), "\(appended.stderr)")

        // The same events with a checkpoint the attacker signed with a key of their own.
        let last = try #require(JSONSerialization.jsonObject(with: Data(forged.last!.utf8)) as? [String: Any])
        var checkpoint = try #require(
            JSONSerialization.jsonObject(with: Data(lines[lines.count - forged.count - 1].utf8)) as? [String: Any])
        #expect(checkpoint["kind"] as? String == "checkpoint")
        checkpoint["position"] = last["position"]
        checkpoint["hash"] = last["hash"]
        checkpoint["signature"] = Base64URL.encode([UInt8](repeating: 7, count: 64))
        let resigned = lines + [String(decoding: try JSONSerialization.data(withJSONObject: checkpoint), as: UTF8.self)]
        try (resigned.joined(separator: "\n") + "\n").write(
            toFile: scratch + "/resigned.jsonl", atomically: true, encoding: .utf8)
        let refused = try runAuthctl(["--data", scratch + "/restored2", "import", scratch + "/resigned.jsonl"], kek)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("line \(resigned.count):"), "\(refused.stderr)")
        #expect(refused.stderr.contains("not signed by"), "\(refused.stderr)")
        _ = server
    }

    @Test func aBackupCutShortIsRefused() async throws {
        let (server, _) = try await serverWithTarget()
        let lines = try exportLines(server.data)
        // Drop the head checkpoint and the last event: the chain of what is left is intact.
        let cut = Array(lines.dropLast(2))
        let file = server.data + "/../cut-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try (cut.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let target = NSTemporaryDirectory() + "authd-cut-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: target) }
        let imported = try runAuthctl(
            ["--data", target, "import", file], ["AUTHLOG_KEK_FILE": server.data + "/kek"])
        #expect(imported.status == 2)
        #expect(imported.stderr.contains("no signed head covers"), "\(imported.stderr)")
    }

    @Test func aKeptHeadCatchesAHistoryRewrittenWithTheKey() async throws {
        let (server, _) = try await serverWithTarget()
        let head = try runAuthctl(["--data", server.data, "head"])
        #expect(head.status == 0, "\(head.stderr)")
        let kept = server.data + "/../head-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: kept) }
        try head.stdout.write(toFile: kept, atomically: true, encoding: .utf8)
        #expect(try runAuthctl(["--data", server.data, "verify", "--since-head", kept]).status == 0)

        // Someone holding the KEK rewrites the first event (its correlation id), recomputes the
        // chain, and imports it as a log from before signing: it then verifies, and is signed.
        var lines = try exportLines(server.data).filter { !$0.contains("\"kind\":\"checkpoint\"") }
        lines[0] = lines[0].replacingOccurrences(of: "authlog-export/2", with: "authlog-export/1")
        let first = try #require(lines.firstIndex { $0.contains("\"kind\":\"event\"") })
        lines[first] = lines[first].replacingOccurrences(
            of: #""correlation_id":""#, with: #""correlation_id":"rewritten-"#)
        lines = try relink(lines)
        let file = kept + ".rewritten.jsonl"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let copy = NSTemporaryDirectory() + "authd-rewritten-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let kek = ["AUTHLOG_KEK_FILE": server.data + "/kek"]
        let imported = try runAuthctl(["--data", copy, "import", "--allow-unsigned", file], kek)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try runAuthctl(["--data", copy, "verify"], kek).status == 0)
        let since = try runAuthctl(["--data", copy, "verify", "--since-head", kept], kek)
        #expect(since.status == 1)
        #expect(since.stderr.contains("position 1:"), "\(since.stderr)")
    }

    /// A running authd never signs on top of a log cut back behind what it has seen, even to
    /// a head that was signed once (the attacker kept it from an export, say).
    @Test func aRunningAuthdRefusesALogCutBackToAnOlderSignedHead() async throws {
        let (server, _) = try await serverWithTarget()
        let head = try runAuthctl(["--data", server.data, "head"])
        let kept = try #require(CheckpointFields(head.stdout))
        let later = try await server.call(
            "POST", "/v1/users",
            json: ["email": "later@example.com", "password": password, "first_name": "La", "last_name": "Ter"])
        #expect(later.status == 201)
        try cutBack(server.data, to: kept)
        let refused = try await server.call(
            "POST", "/v1/users",
            json: ["email": "after@example.com", "password": password, "first_name": "Af", "last_name": "Ter"])
        #expect(refused.status == 503 && refused.code == "log_refused", "\(refused.status) \(refused.json)")
        #expect(refused.headers["retry-after"] != nil)
    }

    @Test func anAuditorVerifiesWithThePublicKeyAlone() async throws {
        let (server, _) = try await serverWithTarget()
        let head = try runAuthctl(["--data", server.data, "head"])
        let publicKey = try #require(
            (try JSONSerialization.jsonObject(with: Data(head.stdout.utf8)) as? [String: Any])?["public_key"] as? String
        )
        // A copy of the log alone, without the key-encryption key or the data keys.
        let copy = NSTemporaryDirectory() + "authd-audit-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: server.data + "/data.mdb", toPath: copy + "/data.mdb")
        let blind = try runAuthctl(["--data", copy, "verify"])
        #expect(blind.status == 3 && blind.stderr.contains("--public-key"), "\(blind.stderr)")
        let audited = try runAuthctl(["--data", copy, "verify", "--public-key", publicKey])
        #expect(audited.status == 0 && audited.stdout.contains("intact and signed"), "\(audited.stderr)")
        let other = String(repeating: "11", count: 32)
        let wrong = try runAuthctl(["--data", copy, "verify", "--public-key", other])
        #expect(wrong.status != 0)
    }

    @Test func aLogFromBeforeSigningIsSignedOnlyOnceAnOperatorSaysSo() async throws {
        let data = NSTemporaryDirectory() + "authd-legacy-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        #expect(
            try runAuthctl(
                ["--data", data, "create-admin", "--email", "root@example.com"], input: "an admin passphrase\n"
            ).status == 0)
        // Written by a release before signing: no checkpoint at all.
        try dropCheckpoints(data)
        let unsigned = try runAuthctl(["--data", data, "verify"])
        #expect(unsigned.status == 3 && unsigned.stderr.contains("unsigned"), "\(unsigned.stderr)")
        let refused = try StartedAuthd(data: data)
        refused.stop()
        #expect(refused.status == 2 && refused.output.contains("sign-head"), "\(refused.output)")
        let hash = try #require(unsigned.stdout.split(separator: " ").last.map { String($0.dropLast()) })
        let wrong = try runAuthctl(["--data", data, "sign-head", "--head-hash", String(repeating: "0", count: 64)])
        #expect(wrong.status == 1)
        let signed = try runAuthctl(["--data", data, "sign-head", "--head-hash", hash])
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(try runAuthctl(["--data", data, "verify"]).status == 0)
        let started = try StartedAuthd(data: data)
        defer { started.stop() }
        #expect(started.port != 0, "\(started.output)")
    }
}

/// Runs the built authctl with no AUTHLOG_ settings but `environment`.
func runAuthctl(_ arguments: [String], _ environment: [String: String] = [:], input: String? = nil) throws
    -> ProcessOutput
{
    try runProcess(
        products().appendingPathComponent("authctl"), arguments, environment: cleanEnvironment(environment),
        input: input)
}

/// The environment without the caller's AUTHLOG_ settings, plus `extra`.
func cleanEnvironment(_ extra: [String: String]) -> [String: String] {
    ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }.merging(extra) { $1 }
}

/// The lines of `authctl export` of `data`.
func exportLines(_ data: String) throws -> [String] {
    let export = try runAuthctl(["--data", data, "export"])
    #expect(export.status == 0, "\(export.stderr)")
    return export.stdout.split(separator: "\n").map(String.init)
}

/// Event lines for `events` in `user`'s stream, chained on from the last event line of `lines`.
func forgeEvents(_ events: [NewEvent], user: UUID, after lines: [String]) throws -> [String] {
    let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        .filter { $0["kind"] as? String == "event" }
    let last = try #require(objects.last)
    var position = (last["position"] as? NSNumber)?.uint64Value ?? 0
    var previous = try #require(ChainHash(hex: last["hash"] as? String ?? ""))
    var version = UInt64(objects.filter { $0["stream"] as? String == user.uuidString.lowercased() }.count)
    let micros = (last["recorded_at_us"] as? NSNumber)?.int64Value ?? 0
    return events.map { event in
        position += 1
        version += 1
        let line: [String: Any] = [
            "kind": "event", "position": position, "stream": user.uuidString.lowercased(), "stream_version": version,
            "type": event.type, "schema_version": Int(event.schemaVersion), "recorded_at_us": micros,
            "recorded_at": Timestamp(microsecondsSince1970: micros).description, "actor": event.metadata.actor,
            "correlation_id": event.metadata.correlationID, "payload": Data(event.payload).base64EncodedString(),
        ]
        previous = hash(line, after: previous)
        var signed = line
        signed["hash"] = previous.description
        return String(
            decoding: try! JSONSerialization.data(withJSONObject: signed, options: .sortedKeys), as: UTF8.self)
    }
}

/// Recomputes the hash of every event line from the first one on.
func relink(_ lines: [String]) throws -> [String] {
    var previous = ChainHash.genesis
    return try lines.map { line in
        guard var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            object["kind"] as? String == "event"
        else { return line }
        previous = hash(object, after: previous)
        object["hash"] = previous.description
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self)
    }
}

/// The canonical bytes of an exported event line (what its hash covers).
func canonicalBytes(ofExportLine line: [String: Any]) -> [UInt8] {
    let event = NewEvent(
        type: line["type"] as? String ?? "", schemaVersion: (line["schema_version"] as? NSNumber)?.uint16Value ?? 1,
        metadata: EventMetadata(
            actor: line["actor"] as? String ?? "", correlationID: line["correlation_id"] as? String ?? ""),
        payload: [UInt8](Data(base64Encoded: line["payload"] as? String ?? "") ?? Data()))
    var writer = ByteWriter()
    Envelope.writeCanonical(
        of: event, position: (line["position"] as? NSNumber)?.uint64Value ?? 0,
        streamID: UUID(uuidString: line["stream"] as? String ?? "") ?? UUID(),
        streamVersion: (line["stream_version"] as? NSNumber)?.uint64Value ?? 0,
        recordedAt: Timestamp(microsecondsSince1970: (line["recorded_at_us"] as? NSNumber)?.int64Value ?? 0),
        to: &writer)
    return writer.bytes
}

/// The chain link of an exported event line after `previous`.
func hash(_ line: [String: Any], after previous: ChainHash) -> ChainHash {
    var scratch: [UInt8] = []
    return canonicalBytes(ofExportLine: line).withUnsafeBytes { previous.next(canonicalBytes: $0, scratch: &scratch) }
}

/// A head printed by `authctl head`, as stored bytes.
struct CheckpointFields {
    let position: UInt64
    let encoded: [UInt8]
    let hash: [UInt8]

    init?(_ line: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let position = (object["position"] as? NSNumber)?.uint64Value,
            let hash = ChainHash(hex: object["hash"] as? String ?? ""),
            let micros = (object["recorded_at_us"] as? NSNumber)?.int64Value,
            let signature = Base64URL.decode(object["signature"] as? String ?? "")
        else { return nil }
        self.position = position
        self.hash = hash.bytes
        encoded =
            Checkpoint(
                role: .head, position: position, hash: hash, recordedAt: Timestamp(microsecondsSince1970: micros),
                signature: signature
            ).encoded
    }
}

/// Cuts a log back to `head`, as an attacker who kept that signed head would: the later
/// events and their index entries go, the head record and the head checkpoint are put back.
func cutBack(_ data: String, to head: CheckpointFields) throws {
    let environment = try LMDB.Environment(path: data, options: .init(maxDatabases: 16))
    defer { environment.close() }
    let txn = try environment.beginTransaction(readOnly: false)
    let events = try #require(try txn.openDatabase("events"))
    let meta = try #require(try txn.openDatabase("meta"))
    var later: [(UInt64, UUID, UInt64)] = []
    try txn.withCursor(events) { cursor in
        var entry = try cursor.last()
        while let current = entry {
            let position = UInt64(bigEndian: current.key.loadUnaligned(as: UInt64.self))
            guard position > head.position else { break }
            let view = try Envelope.parse(current.value)
            later.append((position, view.streamID, view.streamVersion))
            entry = try cursor.previous()
        }
    }
    // Newest first: each event is its stream's last when it goes.
    for (position, stream, version) in later {
        _ = try withUnsafeBytes(of: position.bigEndian) { try txn.delete(events, key: $0) }
        try StreamIndexEdits.unindexLast(position, stream: stream, version: version, in: txn)
    }
    var record = [UInt8](repeating: 0, count: 48)
    record.withUnsafeMutableBytes { $0.storeBytes(of: head.position.bigEndian, as: UInt64.self) }
    record.replaceSubrange(8..<40, with: head.hash)
    record.replaceSubrange(40..<48, with: head.encoded[41..<49])
    try Array("head".utf8).withUnsafeBytes { key in
        try record.withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
    }
    try Array("checkpoint".utf8).withUnsafeBytes { key in
        try head.encoded.withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
    }
    try txn.commit()
}

/// Removes every checkpoint from a stopped log, as if a release before signing had written it.
func dropCheckpoints(_ data: String) throws {
    let environment = try LMDB.Environment(path: data, options: .init(maxDatabases: 16))
    defer { environment.close() }
    let txn = try environment.beginTransaction(readOnly: false)
    let meta = try #require(try txn.openDatabase("meta"))
    var keys: [[UInt8]] = []
    try txn.withCursor(meta) { cursor in
        var entry = try cursor.first()
        while let current = entry {
            let key = [UInt8](current.key)
            if key.starts(with: Array("checkpoint".utf8)) || key.starts(with: Array("interval".utf8)) {
                keys.append(key)
            }
            entry = try cursor.next()
        }
    }
    for key in keys { _ = try key.withUnsafeBytes { try txn.delete(meta, key: $0) } }
    try txn.commit()
}

/// authd started on an existing directory: either it listens (`port`), or it exits (`status`).
final class StartedAuthd {
    let process = Process()
    private(set) var port = 0
    private(set) var output = ""
    private(set) var status: Int32 = -1

    init(data: String, arguments: [String] = []) throws {
        let pipe = Pipe()
        process.executableURL = products().appendingPathComponent("authd")
        process.arguments = ["--data", data, "--port", "0"] + arguments
        process.environment = cleanEnvironment([:])
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        (port, output) = readListeningPort(pipe)
        if port == 0 {
            if process.isRunning { process.terminate() }
            process.waitForExit()
            status = process.terminationStatus
        }
    }

    /// POST /v1/sessions/refresh with `token`: the status and the role in the new access token.
    func refresh(_ token: String) async throws -> String {
        let reply = try await LoopbackRequest(
            "POST", "/v1/sessions/refresh", headers: [("Content-Type", "application/json")],
            body: try JSONSerialization.data(withJSONObject: ["refresh_token": token])
        ).send(port: port)
        return "\(reply.status) \(String(decoding: reply.body, as: UTF8.self).prefix(200))"
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitForExit()
        }
    }
}
