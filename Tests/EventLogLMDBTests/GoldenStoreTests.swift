import EventLog
import EventLogLMDB
import Foundation
import LMDB
import LMDBTestSupport
import TestSupport
import Testing

/// LMDB logs written by releases, kept under Tests/Golden as `mdb_dump -a` text of their
/// `data.mdb` (every entry of every database, byte for byte): every later build must verify
/// and read them as the release that wrote them did, and a writer must move a format-1 log to
/// format 2 without changing an event. The stored layout of format 2 (docs/data-model.md) is
/// pinned byte for byte against its own golden.
@Suite(.ownThreads) struct GoldenStoreTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Golden").path

    /// The golden's databases, loaded into a fresh environment.
    func copy(_ name: String) throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(
            atPath: directory.path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let dump = try String(contentsOfFile: Self.folder + "/\(name)/data.dump", encoding: .utf8)
        try EnvironmentDump.load(dump, into: directory.path)
        return directory
    }

    /// What the release's own `authctl verify` printed for each (see the READMEs).
    static let heads: [String: (UInt64, String)] = [
        "lmdb-format-1": (15, "85395c5519269e09f499d7294313425167c2b907dad2270dde6519ce7e750811"),
        "lmdb-format-2": (15, "a289f160bee0b5b8b74b765a7af4692babed578f7b089caf9419b18d4a036de0"),
    ]

    func expectIntactAndReadable(_ log: LMDBEventLog, as name: String) throws {
        let (count, hash) = try #require(Self.heads[name])
        guard case .intact(let verified, let through, let head) = try log.verify() else {
            Issue.record("expected \(name) to verify")
            return
        }
        #expect(verified == count && through == count)
        #expect(head == (try #require(ChainHash(hex: hash))))
        let all = try log.read(from: 1, limit: .max)
        #expect(all.count == Int(count))
        for (stream, events) in Dictionary(grouping: all, by: \.streamID) {
            #expect(try log.readStream(stream, from: 1) == events)
            #expect(try log.currentVersion(of: stream) == UInt64(events.count))
        }
    }

    /// `heads` and `links` hold, byte for byte, what docs/data-model.md says the events call for.
    func expectFormatTwoLayout(_ directory: TemporaryDirectory, events: [RecordedEvent]) throws {
        var expectedLinks: [[UInt8]: [UInt8]] = [:]
        var expectedHeads: [[UInt8]: [UInt8]] = [:]
        var last: [UUID: UInt64] = [:]
        for event in events {
            let key = withUnsafeBytes(of: event.position.bigEndian) { Array($0) }
            expectedLinks[key] = withUnsafeBytes(of: (last[event.streamID] ?? 0).bigEndian) { Array($0) }
            last[event.streamID] = event.position
            expectedHeads[withUnsafeBytes(of: event.streamID.uuid) { Array($0) }] =
                withUnsafeBytes(of: event.streamVersion.bigEndian) { Array($0) }
                + withUnsafeBytes(of: event.position.bigEndian) { Array($0) }
        }
        let environment = try Environment(path: directory.path, options: .init(maxDatabases: 16, readOnly: true))
        defer { environment.close() }
        let txn = try environment.beginTransaction(readOnly: true)
        func entries(_ name: String) throws -> [[UInt8]: [UInt8]] {
            let db = try #require(try txn.openDatabase(name))
            return try txn.withCursor(db) { cursor in
                var found: [[UInt8]: [UInt8]] = [:]
                var entry = try cursor.first()
                while let current = entry {
                    found[Array(current.key)] = Array(current.value)
                    entry = try cursor.next()
                }
                return found
            }
        }
        #expect(try entries("links") == expectedLinks)
        #expect(try entries("heads") == expectedHeads)
        #expect(try txn.openDatabase("streams") == nil)
    }

    @Test func formatOneVerifiesAndReadsAsItsReleaseDidAndMovesWithoutChangingAnEvent() throws {
        let directory = try copy("lmdb-format-1")
        var before: [RecordedEvent] = []
        do {
            let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
            defer { log.close() }
            try expectIntactAndReadable(log, as: "lmdb-format-1")
            before = try log.read(from: 1, limit: .max)
        }
        do {
            let log = try LMDBEventLog(directory: directory.path)
            defer { log.close() }
            try expectIntactAndReadable(log, as: "lmdb-format-1")
            #expect(try log.read(from: 1, limit: .max) == before)
        }
        try expectFormatTwoLayout(directory, events: before)
    }

    @Test func formatTwoVerifiesAndReadsAsItsReleaseDidAndHoldsTheDocumentedLayout() throws {
        let directory = try copy("lmdb-format-2")
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        try expectIntactAndReadable(log, as: "lmdb-format-2")
        let events = try log.read(from: 1, limit: .max)
        log.close()
        try expectFormatTwoLayout(directory, events: events)
    }
}
