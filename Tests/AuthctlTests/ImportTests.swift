import EventLog
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `authctl import` is all or nothing and checks every field; the key store holds one slot per
/// user, so that an erasure after any sequence of imports leaves nothing readable.
@Suite(.ownThreads) struct ImportTests {
    @Test func aRefusedImportLeavesNothingAndAnEraseAfterTheRetryLeavesNoCopyOfTheKey() throws {
        let scratch = try Scratch()
        let (source, lines) = try seededExport(scratch)
        let target = try emptyTarget(scratch, "restored", kekFrom: source)
        // The last event's hash is wrong: every line before it is fine, data keys included.
        var broken = lines
        let last = broken.count - 1
        var event = json(Substring(lines[last]))
        let hash = try #require(event["hash"] as? String)
        event["hash"] = (hash.hasPrefix("0") ? "1" : "0") + hash.dropFirst()
        broken[last] = String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self)
        try writeLines(broken, to: scratch.at("broken.jsonl"))
        try writeLines(lines, to: scratch.at("good.jsonl"))

        let refused = try authctl(["--data", target, "import", scratch.at("broken.jsonl")])
        #expect(refused.status == 2 && refused.stderr.contains("line \(last + 1):"), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["kek"], "a refused import wrote files")

        let imported = try authctl(["--data", target, "import", scratch.at("good.jsonl")])
        #expect(imported.status == 0, "\(imported.stderr)")
        let (id, wrapped) = try dataKey(of: "seed7@example.com", in: target, lines: lines)
        #expect(filesContaining(wrapped, under: target) == ["keys"])
        #expect(try authctl(["--data", target, "erase", "seed7@example.com"]).status == 0)

        let trail = try authctl(["--data", target, "history", id])
        #expect(trail.status == 0 && !trail.stdout.contains("seed7@example.com"), "\(trail.stdout)")
        #expect(filesContaining(wrapped, under: target).isEmpty, "the erased user's wrapped key is still stored")
        #expect(filesContaining(Array("seed7@example.com".utf8), under: target).isEmpty)
    }

    /// A backup holds an erased user's key line; a later export holds their erasure. Someone
    /// who puts the old key line into the later export, and gives the erasure's line a second
    /// `type` (a JSON parser may keep either of two values of one field), leaves the signed
    /// bytes as they were: the import still reads the erasure as it stores it, and refuses
    /// the key.
    @Test func anErasedUsersKeyIsRefusedEvenBehindARepeatedField() throws {
        let scratch = try Scratch()
        let (source, before) = try seededExport(scratch)
        let (id, _) = try dataKey(of: "seed7@example.com", in: source, lines: before)
        let keyLine = try #require(before.first { $0.contains("\"kind\":\"data_key\"") && $0.contains(id) })
        #expect(try authctl(["--data", source, "erase", "seed7@example.com"]).status == 0)
        let export = try authctl(["--data", source, "export"])
        #expect(export.status == 0, "\(export.stderr)")
        var lines = export.stdout.split(separator: "\n").map(String.init)
        #expect(!lines.contains(keyLine))
        let erasure = try #require(lines.firstIndex { json(Substring($0))["type"] as? String == "UserErased" })
        #expect(lines[erasure].contains(id.lowercased()) && lines[erasure].hasSuffix("}"))
        lines[erasure] = String(lines[erasure].dropLast()) + #","type":"UserRegistered"}"#
        lines.insert(keyLine, at: 1)
        try writeLines(lines, to: scratch.at("forged.jsonl"))
        let target = try emptyTarget(scratch, "restored", kekFrom: source)
        let refused = try authctl(["--data", target, "import", scratch.at("forged.jsonl")])
        #expect(refused.status == 2, "imported: \(refused.stdout) \(refused.stderr)")
        #expect(
            refused.stderr.contains("line 2:") && refused.stderr.contains("whom the log erases"), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["kek"], "a refused import wrote files")
    }

    /// The data key lines are not signed. Someone who leaves one out of a backup would leave its
    /// user with no readable email or password, and their address free for anyone to register,
    /// with no event saying so: refused, naming the line, nothing written, unless
    /// `--allow-missing-keys` says the export was taken during an erase. A key line for a user
    /// with no events (a registration under way when the export read the head, or one put in)
    /// opens nothing: it is left out, and said so.
    @Test func anExportMissingAUsersKeyIsRefusedAndAKeyWithoutEventsIsLeftOut() throws {
        let scratch = try Scratch()
        let (source, lines) = try seededExport(scratch)
        let (id, _) = try dataKey(of: "seed7@example.com", in: source, lines: lines)
        let keyLine = try #require(lines.firstIndex { $0.contains("\"kind\":\"data_key\"") && $0.contains(id) })
        var missing = lines
        missing.remove(at: keyLine)
        try writeLines(missing, to: scratch.at("missing.jsonl"))
        let first = try #require(
            missing.firstIndex { $0.contains("\"kind\":\"event\"") && $0.contains(id.lowercased()) })
        let target = try emptyTarget(scratch, "restored", kekFrom: source)
        let refused = try authctl(["--data", target, "import", scratch.at("missing.jsonl")])
        #expect(refused.status == 2, "imported: \(refused.stdout) \(refused.stderr)")
        #expect(
            refused.stderr.contains("line \(first + 1):") && refused.stderr.contains("no data key line"),
            "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["kek"], "a refused import wrote files")
        let allowed = try emptyTarget(scratch, "allowed", kekFrom: source)
        let taken = try authctl(["--data", allowed, "import", "--allow-missing-keys", scratch.at("missing.jsonl")])
        #expect(taken.status == 0, "\(taken.stderr)")

        // A key wrapped with the same key-encryption key, for a user of another directory.
        let other = try emptyTarget(scratch, "other", kekFrom: source)
        #expect(try authctl(["--data", other, "seed", "--users", "2", "--events", "6"]).status == 0)
        let otherLines = try authctl(["--data", other, "export"]).stdout.split(separator: "\n").map(String.init)
        let stranger = try #require(otherLines.first { $0.contains("\"kind\":\"data_key\"") })
        let wrapped = Array(bytes(fromHex: try #require(json(Substring(stranger))["slot"] as? String))[16..<76])
        var added = lines
        added.insert(stranger, at: 1)
        try writeLines(added, to: scratch.at("added.jsonl"))
        let imported = try authctl(["--data", target, "import", scratch.at("added.jsonl")])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(
            imported.stderr.contains("line 2:") && imported.stderr.contains("left out the data key"),
            "\(imported.stderr)")
        #expect(filesContaining(wrapped, under: target).isEmpty, "a key with no user was stored")
    }

    /// A line that never ends (here on stdin, from a writer that never closes it) is refused
    /// once it is longer than any export writes: before, the import read on for as long as
    /// bytes came, holding all of them.
    @Test func aLineThatNeverEndsIsRefusedOnceItIsLongerThanAnyExportWrites() throws {
        let scratch = try Scratch()
        let (source, lines) = try seededExport(scratch)
        let target = try emptyTarget(scratch, "restored", kekFrom: source)
        // A socket pair for stdin: its writes never raise SIGPIPE in this process.
        var ends: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0)
        let process = Process()
        process.executableURL = builtProduct("authctl")
        process.arguments = ["--data", target, "import", "-"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        let errors = Pipe()
        let reading = FileHandle(fileDescriptor: ends[0], closeOnDealloc: false)
        process.standardInput = reading
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        // The child has its copy; with this one closed, a send fails once the child is gone.
        close(ends[0])
        let writer = ends[1]
        defer { close(writer) }
        // The header, then a line that goes on: 16 MiB, and the pair is kept open after it.
        let head = Array((lines[0] + "\n{\"kind\":\"event\",\"payload\":\"").utf8)
        let chunk = [UInt8](repeating: UInt8(ascii: "A"), count: 1 << 16)
        var sent = head.withUnsafeBytes { send(writer, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        while sent > 0, sent < 16 << 20 {
            let count = chunk.withUnsafeBytes { send(writer, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { break }  // the import stopped reading: it exited
            sent += count
        }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        let finished = !process.isRunning
        if !finished { process.terminate() }
        process.waitForExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(finished, "the import still read its endless line after \(sent) bytes")
        #expect(
            process.terminationStatus == 2 && stderr.contains("line 2:") && stderr.contains("longer than"), "\(stderr)")
        #expect(sent < 16 << 20, "the import read all \(sent) bytes of one line")
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["kek"])
    }

    /// Each line is changed as an attacker who rewrote the backup would, and every hash after
    /// it recomputed so the chain holds: the import still refuses, naming the line, and
    /// writes nothing.
    @Test(arguments: [
        "recorded_at_us", "position", "type", "payload", "actor", "stream_version",
    ])
    func importRefusesACraftedFieldWithItsLineEvenWithARecomputedChain(field: String) throws {
        let scratch = try Scratch()
        let (source, lines) = try seededExport(scratch)
        var crafted = lines.map { json(Substring($0)) }
        let index = try #require(crafted.lastIndex { $0["type"] as? String == "LoginSucceeded" })
        switch field {
        case "recorded_at_us": crafted[index][field] = Int64.min
        case "position": crafted[index][field] = Double(crafted[index]["position"] as! Int) + 0.5
        case "type": crafted[index][field] = "UserTeleported"
        case "payload": crafted[index][field] = Data([1, 2, 3]).base64EncodedString()
        case "actor": crafted[index][field] = "someone else"
        default: crafted[index][field] = -1
        }
        try writeLines(try rechained(crafted), to: scratch.at("crafted.jsonl"))
        let target = try emptyTarget(scratch, "restored", kekFrom: source)
        let refused = try authctl(["--data", target, "import", scratch.at("crafted.jsonl")])
        #expect(refused.status == 2, "\(field): \(refused.status) \(refused.stderr)")
        #expect(refused.stderr.hasPrefix("authctl: \(scratch.at("crafted.jsonl")), line \(index + 1): "))
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["kek"])
    }
}

/// Recomputes every event line's hash over its (possibly crafted) fields, as someone who
/// rewrites a backup without any key can.
func rechained(_ objects: [[String: Any]]) throws -> [String] {
    var head = ChainHash.genesis
    var scratch: [UInt8] = []
    return try objects.map { object in
        var object = object
        if object["kind"] as? String == "event" {
            let event = NewEvent(
                type: object["type"] as? String ?? "", schemaVersion: UInt16(object["schema_version"] as? Int ?? 1),
                metadata: EventMetadata(
                    actor: object["actor"] as? String ?? "", correlationID: object["correlation_id"] as? String ?? ""),
                payload: [UInt8](Data(base64Encoded: object["payload"] as? String ?? "") ?? Data()))
            var writer = ByteWriter(capacity: 256)
            Envelope.writeCanonical(
                of: event, position: (object["position"] as? NSNumber)?.uint64Value ?? 0,
                streamID: UUID(uuidString: object["stream"] as? String ?? "") ?? UUID(),
                streamVersion: (object["stream_version"] as? NSNumber)?.uint64Value ?? 0,
                recordedAt: Timestamp(microsecondsSince1970: (object["recorded_at_us"] as? NSNumber)?.int64Value ?? 0),
                to: &writer)
            head = writer.bytes.withUnsafeBytes { head.next(canonicalBytes: $0, scratch: &scratch) }
            object["hash"] = head.description
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
