import EventLog
import EventLogLMDB
import Foundation
import LMDB
import LMDBTestSupport
import Signatures
import TestSupport
import Testing

/// The signed checkpoints: written by a signing writer, and what `verifySignatures` finds
/// when someone without the key changes the log behind its back.
@Suite(.ownThreads) struct CheckpointTests {
    let key = try! Ed25519Key(privateKey: [UInt8](repeating: 7, count: 32))

    /// A signed log of `count` events, one commit each, closed.
    func signedLog(_ count: Int) async throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        try log.startSigning(with: key)
        for index in 1...count {
            _ = try await log.append([event("E", "event \(index)")], to: UUID(), expecting: .noStream)
        }
        log.close()
        return directory
    }

    func verification(_ directory: TemporaryDirectory, key: Ed25519Key? = nil, since: Checkpoint? = nil) throws
        -> LogVerification
    {
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { log.close() }
        return try log.verifySignatures(key: key ?? self.key, since: since)
    }

    /// Appends events the way an attacker with the files but not the key can: through the
    /// log's own code, which keeps the chain consistent.
    func appendUnsigned(_ directory: TemporaryDirectory, _ count: Int) async throws {
        let log = try LMDBEventLog(directory: directory.path)
        for index in 1...count {
            _ = try await log.append([event("Forged", "forged \(index)")], to: UUID(), expecting: .noStream)
        }
        log.close()
    }

    @Test func everyCommitSignsItsHead() async throws {
        let directory = try await signedLog(5)
        guard case .signed(let count, let head, _) = try verification(directory) else {
            Issue.record("expected a signed log")
            return
        }
        #expect(count == 5 && head.position == 5 && head.isSigned(by: key))
    }

    /// Found by the benchmark: a commit redone after its map grew must not take the head it
    /// signed in the aborted try for one that was committed.
    @Test func aSigningLogGrowsItsMapWithoutRefusingItself() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path, options: .init(initialMapSize: 64 << 10))
        try log.startSigning(with: key)
        // Many writers at once: large group commits, some of them redone after the map grew.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<64 {
                group.addTask {
                    let stream = UUID()
                    for index in 0..<50 {
                        _ = try await log.append(
                            [event("E", String(repeating: "w\(writer) e\(index) ", count: 20))], to: stream,
                            expecting: .exactly(UInt64(index)))
                    }
                }
            }
            try await group.waitForAll()
        }
        log.close()
        guard case .signed(3_200, _, _) = try verification(directory) else {
            Issue.record("expected a signed log of 3,200 events")
            return
        }
    }

    @Test func anotherKeyDoesNotVerifyIt() async throws {
        let directory = try await signedLog(3)
        let other = try Ed25519Key(privateKey: [UInt8](repeating: 8, count: 32))
        #expect(try verification(directory, key: other).breakReason == .signatureInvalid)
    }

    @Test func eventsAppendedWithoutTheKeyAreAnUnsignedTail() async throws {
        let directory = try await signedLog(4)
        try await appendUnsigned(directory, 2)
        #expect(
            try verification(directory) == .broken(ChainBreak(position: 5, reason: .unsignedTail(signedThrough: 4))))
        // And a writer with the key refuses to sign over them.
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        #expect(throws: EventLogError.self) { try log.startSigning(with: key) }
    }

    @Test func aSigningWriterRefusesToSignOverAnotherProcesssUnsignedAppends() async throws {
        let directory = try await signedLog(2)
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        try log.startSigning(with: key)
        _ = try await log.append([event("E", "signed")], to: UUID(), expecting: .noStream)
        // Another process, without the key, appends while this writer is open.
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: productPath("eventlog-crash-probe"))
        probe.arguments = [directory.path, "1"]
        let output = Pipe()
        probe.standardOutput = output
        try probe.run()
        var text = ""
        while !text.contains("ack ") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        kill(probe.processIdentifier, SIGKILL)
        probe.waitForExit()
        #expect(text.contains("ack "))
        await #expect(throws: EventLogError.self) {
            _ = try await log.append([event("E", "would sign over them")], to: UUID(), expecting: .noStream)
        }
    }

    @Test func aTailCutWithItsHeadRecordIsFound() async throws {
        let directory = try await signedLog(6)
        try tamper(directory.path) { txn, events in
            let fifth = try storedBytes(txn, events, 5)
            let sixth = try storedBytes(txn, events, 6)
            _ = try positionKey(6).withUnsafeBytes { try txn.delete(events, key: $0) }
            // And its place in the stream index (its stream's version 1).
            let stream = try sixth.withUnsafeBytes { try Envelope.parse($0).streamID }
            try StreamIndexEdits.unindexLast(6, stream: stream, version: 1, in: txn)
            // Rewrite the head record to end at 5, as a careful attacker would.
            let meta = try #require(try txn.openDatabase("meta"))
            var head = [UInt8](repeating: 0, count: 48)
            head.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(5).bigEndian, as: UInt64.self) }
            head.replaceSubrange(8..<40, with: fifth.suffix(32))
            let time = try fifth.withUnsafeBytes { try Envelope.parse($0).recordedAt }.microsecondsSince1970
            head.replaceSubrange(40..<48, with: withUnsafeBytes(of: time.bigEndian) { Array($0) })
            try Array("head".utf8).withUnsafeBytes { key in
                try head.withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
            }
        }
        #expect(try verification(directory) == .broken(ChainBreak(position: 6, reason: .cutShort(signedThrough: 6))))
    }

    /// The head record's time is the earliest the next commit's events may take. Rewritten
    /// to a far future by someone without the key, every later event would carry that time,
    /// signed: a signing writer refuses the log, and `verify` names the head.
    @Test func aHeadTimeRewrittenWithoutTheKeyIsRefusedAndFound() async throws {
        let directory = try await signedLog(3)
        try Self.rewriteHeadTime(directory, to: Int64(1) << 58)  // about the year 11,100
        let found = try verification(directory)
        #expect(found == .broken(ChainBreak(position: 3, reason: .headTimeMismatch)))
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        #expect(throws: EventLogError.headTimeRewritten) { try log.startSigning(with: key) }
    }

    /// The same on a log written before signing: its head's time is not the last event's, so
    /// the plain chain check names it, and adopting the log refuses to sign that time.
    @Test func anUnsignedLogsHeadTimeRewrittenIsFoundAndNotAdopted() async throws {
        let directory = TemporaryDirectory()
        try await appendUnsigned(directory, 3)
        try Self.rewriteHeadTime(directory, to: Int64(1) << 58)
        let plain = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        #expect(try plain.verifyAndClose() == .broken(ChainBreak(position: 3, reason: .headTimeMismatch)))
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        #expect(throws: EventLogError.headTimeRewritten) { try log.startSigning(with: key, adoptUnsigned: true) }
    }

    /// Sets the head record's time (its last 8 bytes, microseconds, big-endian).
    static func rewriteHeadTime(_ directory: TemporaryDirectory, to microseconds: Int64) throws {
        try tamper(directory.path) { txn, _ in
            let meta = try #require(try txn.openDatabase("meta"))
            let key = Array("head".utf8)
            var head = [UInt8](try #require(try key.withUnsafeBytes { try txn.get(meta, key: $0) }))
            head.replaceSubrange(40..<48, with: withUnsafeBytes(of: microseconds.bigEndian) { Array($0) })
            try key.withUnsafeBytes { key in try head.withUnsafeBytes { try txn.put(meta, key: key, value: $0) } }
        }
    }

    @Test func aRewrittenHistoryWithARecomputedChainDisagreesWithItsSignature() async throws {
        let directory = try await signedLog(6)
        try tamper(directory.path) { txn, events in
            // Change event 3 and recompute every later link and the head record.
            let rewritten = try relink(txn, events, changing: 3, through: 6)
            let meta = try #require(try txn.openDatabase("meta"))
            let key = Array("head".utf8)
            var head = [UInt8](try #require(try key.withUnsafeBytes { try txn.get(meta, key: $0) }))
            head.replaceSubrange(8..<40, with: rewritten.bytes)
            try key.withUnsafeBytes { key in try head.withUnsafeBytes { try txn.put(meta, key: key, value: $0) } }
        }
        #expect(try LMDBEventLog(directory: directory.path, options: .init(readOnly: true)).verifyAndClose().isIntact)
        #expect(try verification(directory).breakReason == .signedHashMismatch(signedAt: 6))
    }

    @Test func intervalCheckpointsNarrowWhereAHistoryWasRewritten() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        try log.startSigning(with: key)
        // Commits of 1,000 events: those ending at 5,000, 9,000 and 13,000 cross a multiple
        // of the 4,096 spacing and keep an interval checkpoint.
        for _ in 0..<13 {
            _ = try await log.append((0..<1_000).map { event("E", "bulk \($0)") }, to: UUID(), expecting: .noStream)
        }
        log.close()
        guard case .signed(13_000, _, let intervals) = try verification(directory) else {
            Issue.record("expected a signed log")
            return
        }
        #expect(intervals == 3)
        try tamper(directory.path) { txn, events in _ = try relink(txn, events, changing: 5_010, through: 13_000) }
        // The interval checkpoint at 5,000 still matches; the one at 9,000 does not.
        #expect(
            try verification(directory)
                == .broken(ChainBreak(position: 5_001, reason: .signedHashMismatch(signedAt: 9_000))))
    }

    @Test func aKeptHeadMustStillBeExtended() async throws {
        let directory = try await signedLog(3)
        let kept = try #require(
            try LMDBEventLog(directory: directory.path, options: .init(readOnly: true)).headAndClose())
        let log = try LMDBEventLog(directory: directory.path)
        try log.startSigning(with: key)
        _ = try await log.append([event("E", "later")], to: UUID(), expecting: .noStream)
        log.close()
        guard case .signed(let count, _, _) = try verification(directory, since: kept) else {
            Issue.record("expected the log to extend the kept head")
            return
        }
        #expect(count == 4)
        // The key's holder builds another history of the same length: it does not extend the head.
        let other = try await signedLog(4)
        #expect(try verification(other, since: kept).breakReason == .signedHashMismatch(signedAt: 3))
    }

    @Test func aLogWrittenBeforeSigningIsUnsignedUntilAdopted() async throws {
        let directory = TemporaryDirectory()
        try await appendUnsigned(directory, 3)
        guard case .unsigned(3, 3, _) = try verification(directory) else {
            Issue.record("expected an unsigned log")
            return
        }
        let log = try LMDBEventLog(directory: directory.path)
        #expect(throws: EventLogError.unsignedLog(events: 3)) { try log.startSigning(with: key) }
        try log.startSigning(with: key, adoptUnsigned: true)
        log.close()
        guard case .signed(3, _, _) = try verification(directory) else {
            Issue.record("expected the adopted log to be signed")
            return
        }
    }

    @Test func anEventStoredPastTheHeadIsFoundAndNotSignedOver() async throws {
        let directory = try await signedLog(4)
        try tamper(directory.path) { txn, events in
            // A copy of event 4 at position 5, the head record and checkpoints untouched.
            try put(txn, events, 5, try storedBytes(txn, events, 4))
        }
        #expect(try verification(directory) == .broken(ChainBreak(position: 5, reason: .pastHead(recordedHead: 4))))
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        #expect(throws: EventLogError.self) { try log.startSigning(with: key) }
    }

    @Test func aStreamIndexEntryPointingAtAnotherStreamsEventIsRefused() async throws {
        let directory = try await signedLog(3)
        var redirected = UUID()
        try tamper(directory.path) { txn, events in
            // Point the first event's stream's head (version 1) at event 3, another stream's.
            redirected = try storedBytes(txn, events, 1).withUnsafeBytes { try Envelope.parse($0).streamID }
            try StreamIndexEdits.setHead(of: redirected, version: 1, position: 3, in: txn)
        }
        guard case .broken(let failure) = try verification(directory), case .misfiled = failure.reason else {
            Issue.record("expected the stream index to be refused")
            return
        }
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { log.close() }
        // Reading the redirected stream fails instead of folding another user's event into it.
        #expect(throws: EventLogError.self) { _ = try log.readStream(redirected, from: 1) }
    }

    @Test func aJunkIntervalRecordCannotHideTheOthers() async throws {
        let directory = try await signedLog(2)
        try tamper(directory.path) { txn, _ in
            let meta = try #require(try txn.openDatabase("meta"))
            try Array("interval".utf8).withUnsafeBytes { key in
                try [UInt8](repeating: 0, count: 3).withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
            }
        }
        #expect(try verification(directory).breakReason == .signatureInvalid)
    }

    @Test func aSignedLogStrippedOfItsHeadCheckpointIsNotAdopted() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        try log.startSigning(with: key)
        for _ in 0..<5 {
            _ = try await log.append((0..<1_000).map { event("E", "bulk \($0)") }, to: UUID(), expecting: .noStream)
        }
        log.close()
        try tamper(directory.path) { txn, _ in
            let meta = try #require(try txn.openDatabase("meta"))
            _ = try Array("checkpoint".utf8).withUnsafeBytes { try txn.delete(meta, key: $0) }
        }
        #expect(try verification(directory).breakReason == .unsignedTail(signedThrough: 5_000))
        let writer = try LMDBEventLog(directory: directory.path)
        defer { writer.close() }
        #expect(throws: EventLogError.self) { try writer.startSigning(with: key, adoptUnsigned: true) }
    }

    /// The documented limit: a log cut back to a head that was signed earlier is a valid,
    /// shorter log; only a newer head kept elsewhere tells.
    @Test func aLogCutBackToAnEarlierSignedHeadIsCaughtByANewerKeptHead() async throws {
        let directory = try await signedLog(3)
        let earlier = try #require(
            try LMDBEventLog(directory: directory.path, options: .init(readOnly: true)).headAndClose())
        let log = try LMDBEventLog(directory: directory.path)
        try log.startSigning(with: key)
        for index in 1...3 {
            _ = try await log.append([event("E", "later \(index)")], to: UUID(), expecting: .noStream)
        }
        log.close()
        let kept = try #require(
            try LMDBEventLog(directory: directory.path, options: .init(readOnly: true)).headAndClose())
        try tamper(directory.path) { txn, events in
            let meta = try #require(try txn.openDatabase("meta"))
            for position: UInt64 in 4...6 {
                let view = try storedBytes(txn, events, position)
                let stream = try view.withUnsafeBytes { try Envelope.parse($0).streamID }
                _ = try positionKey(position).withUnsafeBytes { try txn.delete(events, key: $0) }
                try StreamIndexEdits.unindexLast(position, stream: stream, version: 1, in: txn)
            }
            var head = [UInt8](repeating: 0, count: 48)
            head.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(3).bigEndian, as: UInt64.self) }
            head.replaceSubrange(8..<40, with: earlier.hash.bytes)
            // The earlier head's time too: the signed head holds it.
            let time = earlier.recordedAt.microsecondsSince1970.bigEndian
            head.replaceSubrange(40..<48, with: withUnsafeBytes(of: time) { Array($0) })
            try Array("head".utf8).withUnsafeBytes { key in
                try head.withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
            }
            try Array("checkpoint".utf8).withUnsafeBytes { key in
                try earlier.encoded.withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
            }
        }
        guard case .signed(3, _, _) = try verification(directory) else {
            Issue.record("a log cut back to an earlier signed head is, alone, a valid signed log")
            return
        }
        #expect(
            try verification(directory, since: kept)
                == .broken(ChainBreak(position: 4, reason: .cutShort(signedThrough: 6))))
    }

    @Test func aCheckpointRoundTripsThroughItsStoredForm() throws {
        let checkpoint = try Checkpoint(
            role: .interval, position: 42, hash: ChainHash(hex: String(repeating: "ab", count: 32))!,
            recordedAt: Timestamp(microsecondsSince1970: -5), signingWith: key)
        let decoded = checkpoint.encoded.withUnsafeBytes { Checkpoint(encoded: $0) }
        #expect(decoded == checkpoint && decoded?.isSigned(by: key) == true)
        var changed = checkpoint
        changed.role = .head
        #expect(!changed.isSigned(by: key))
    }
}

/// Flips a bit of event `changed`'s bytes and recomputes its link and every later one
/// through `last`, as an attacker without the key would; returns the new last hash.
func relink(_ txn: borrowing Transaction, _ events: Database, changing changed: UInt64, through last: UInt64) throws
    -> ChainHash
{
    var previous = Array(try storedBytes(txn, events, changed - 1).suffix(32)).withUnsafeBytes { ChainHash(bytes: $0) }
    var scratch: [UInt8] = []
    for position in changed...last {
        var bytes = try storedBytes(txn, events, position)
        let end = bytes.count - 32
        if position == changed { bytes[end - 1] ^= 0x20 }
        previous = bytes[..<end].withUnsafeBytes { previous.next(canonicalBytes: $0, scratch: &scratch) }
        bytes.replaceSubrange(end..., with: previous.bytes)
        try put(txn, events, position, bytes)
    }
    return previous
}

extension LogVerification {
    var breakReason: ChainBreak.Reason? {
        if case .broken(let failure) = self { return failure.reason }
        return nil
    }
}

extension LMDBEventLog {
    func verifyAndClose() throws -> ChainVerification {
        defer { close() }
        return try verify()
    }

    func headAndClose() throws -> Checkpoint? {
        defer { close() }
        return try headCheckpoint()
    }
}
