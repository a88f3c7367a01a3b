import EventLog
import EventLogLMDB
import Foundation
import LMDB
import LMDBTestSupport
import TestSupport
import Testing

/// The stream index: each stream's head and a link from each event to its stream's one
/// before (format 2), a format-1 log's per-event index read as it is and moved to format 2 by
/// the first writer, and an index tampered with refused rather than followed.
@Suite(.ownThreads) struct StreamIndexTests {
    let streams = (0..<3).map { _ in UUID() }

    /// Three streams of 1, 4 and 7 events, their appends interleaved (some two events at a
    /// time), closed.
    func interleavedLog() async throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        var versions = [UInt64](repeating: 0, count: streams.count)
        for round in 0..<5 {
            for (index, stream) in streams.enumerated() where Int(versions[index]) < 3 * index + 1 {
                let events = (0..<(round % 2 + 1)).map { event("E", "\(index).\(round).\($0)") }
                let fitting = Array(events.prefix(3 * index + 1 - Int(versions[index])))
                let result = try await log.append(
                    fitting, to: stream, expecting: versions[index] == 0 ? .noStream : .exactly(versions[index]))
                versions[index] = result.streamVersion
            }
        }
        #expect(versions == [1, 4, 7])
        log.close()
        return directory
    }

    /// The event at `version` of `stream`, read from the closed log in `directory`.
    func stored(_ version: UInt64, of stream: UUID, in directory: TemporaryDirectory) throws -> RecordedEvent {
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { log.close() }
        return try #require(try log.readStream(stream, from: version).first)
    }

    /// Each stream's events as a plain scan of the whole log finds them: the reference.
    func scanned(_ log: LMDBEventLog) throws -> [UUID: [RecordedEvent]] {
        Dictionary(grouping: try log.all(), by: \.streamID)
    }

    func expectStreamsReadAsScanned(_ log: LMDBEventLog) throws {
        let reference = try scanned(log)
        for stream in streams {
            let all = try #require(reference[stream])
            #expect(try log.readStream(stream, from: 1) == all)
            #expect(try log.readStream(stream, from: 2) == Array(all.dropFirst()))
            #expect(try log.readStream(stream, from: UInt64(all.count)) == [all.last!])
            #expect(try log.readStream(stream, from: UInt64(all.count) + 1) == [])
            #expect(try log.currentVersion(of: stream) == UInt64(all.count))
        }
        #expect(try log.readStream(UUID(), from: 1) == [])
        #expect(try log.currentVersion(of: UUID()) == 0)
    }

    func intact(_ log: LMDBEventLog) throws -> Bool {
        if case .intact = try log.verify() { return true }
        return false
    }

    /// Where and why `verify` refuses the log's stream index; `nil` when it does not.
    func misfiled(_ log: LMDBEventLog) throws -> (position: UInt64, detail: String)? {
        guard case .broken(let failure) = try log.verify(), case .misfiled(let detail) = failure.reason else {
            return nil
        }
        return (failure.position, detail)
    }

    /// ``misfiled(_:)`` of the closed log in `directory`, opened read-only.
    func misfiled(in directory: TemporaryDirectory) throws -> (position: UInt64, detail: String)? {
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { log.close() }
        return try misfiled(log)
    }

    /// Moves the second stream's head back to its version 2, hiding its later events.
    func moveHeadBack(in directory: TemporaryDirectory) throws {
        let moved = try stored(2, of: streams[1], in: directory)
        try tamper(directory.path) { txn, _ in
            try StreamIndexEdits.setHead(of: streams[1], version: 2, position: moved.position, in: txn)
        }
    }

    @Test func streamsReadByTheirLinksMatchAScanOfTheLog() async throws {
        let directory = try await interleavedLog()
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { log.close() }
        try expectStreamsReadAsScanned(log)
        #expect(try intact(log))
    }

    /// A walk that starts at a given event of the stream (`through`) reads the range up to it
    /// and no further, as a scan finds it; an event of another stream given as the start is
    /// refused, never read as this stream's.
    @Test func aWalkFromAnEventOfTheStreamReadsUpToIt() async throws {
        let directory = try await interleavedLog()
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { log.close() }
        let all = try #require(try scanned(log)[streams[2]])
        func walked(from first: UInt64, through last: RecordedEvent) throws -> [RecordedEvent] {
            var seen: [RecordedEvent] = []
            try log.environment.read { txn in
                try log.forEachEnvelope(
                    inStream: streams[2], from: first, through: (last.streamVersion, last.position), in: txn
                ) { view in
                    seen.append(view.recorded)
                    return true
                }
            }
            return seen
        }
        #expect(try walked(from: 1, through: all[4]) == Array(all[0...4]))
        #expect(try walked(from: 3, through: all[4]) == Array(all[2...4]))
        #expect(try walked(from: 5, through: all[4]) == [all[4]])
        let other = try #require(try scanned(log)[streams[1]]?.last)
        do {
            _ = try walked(from: 1, through: other)
            Issue.record("a walk from another stream's event was read")
        } catch EventLogError.corrupt {}
    }

    @Test func aFormatOneLogIsReadAsItIsAndMovedToHeadsByTheFirstWriter() async throws {
        let directory = try await interleavedLog()
        try rewriteInFormatOne(directory.path)
        do {
            let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
            defer { log.close() }
            try expectStreamsReadAsScanned(log)
            #expect(try intact(log))
        }
        #expect(try databases(directory.path) == ["events", "meta", "streams", "unique"])
        #expect(try marker(directory.path) == "authlog.eventlog/1")
        // The first writer moves it; each environment is opened once at a time in a process.
        try LMDBEventLog(directory: directory.path).close()
        #expect(try marker(directory.path) == "authlog.eventlog/2")
        #expect(try databases(directory.path) == ["events", "heads", "links", "meta", "unique"])
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        try expectStreamsReadAsScanned(log)
        #expect(try intact(log))
        // Appends go on from each stream's moved head.
        let next = try await log.append([event("E", "after the move")], to: streams[2], expecting: .exactly(7))
        #expect(next.streamVersion == 8)
        #expect(try log.readStream(streams[2], from: 1).map(\.streamVersion) == Array(1...8))
        await #expect(throws: EventLogError.self) {
            _ = try await log.append([event()], to: streams[1], expecting: .exactly(3))
        }
        #expect(try intact(log))
    }

    /// The move writes a link per event before the index it replaces is freed: a map with no
    /// room left (LMDB takes a map no larger than the pages in use when asked for less) grows,
    /// and the move is made again.
    @Test func aFormatOneLogInAFullMapIsMovedOnceTheMapGrows() async throws {
        let directory = TemporaryDirectory()
        let ids = (0..<50).map { _ in UUID() }
        do {
            let log = try LMDBEventLog(directory: directory.path)
            for round in 0..<40 {
                let requests = ids.map { id in
                    AppendRequest(
                        stream: id, expected: round == 0 ? .noStream : .exactly(UInt64(round)),
                        events: [event("E", "\(round)")])
                }
                for outcome in try await log.append(requests) { _ = try outcome.get() }
            }
            log.close()
        }
        try rewriteInFormatOne(directory.path)
        let log = try LMDBEventLog(directory: directory.path, options: .init(initialMapSize: 4_096))
        defer { log.close() }
        #expect(try log.readStream(ids[17], from: 1).map(\.streamVersion) == Array(1...40))
        #expect(try intact(log))
        let next = try await log.append([event()], to: ids[3], expecting: .exactly(40))
        #expect(next.streamVersion == 41)
    }

    /// The move makes heads and links from the events, never from the old index (derived
    /// data that no hash covers): an index with a gap and an entry pointed at another stream's
    /// event, which `verify` names before the move, leaves no trace after it.
    @Test func aFormatOneLogIsMovedFromItsEventsNotItsIndex() async throws {
        let directory = try await interleavedLog()
        try rewriteInFormatOne(directory.path)
        try tamper(directory.path) { txn, _ in
            let index = try #require(try txn.openDatabase("streams"))
            _ = try streamKey(streams[2], 3).withUnsafeBytes { try txn.delete(index, key: $0) }
            try streamKey(streams[1], 2).withUnsafeBytes { key in
                try positionKey(1).withUnsafeBytes { try txn.put(index, key: key, value: $0) }
            }
        }
        do {
            let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
            defer { log.close() }
            #expect(try misfiled(log) != nil)
        }
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        try expectStreamsReadAsScanned(log)
        #expect(try intact(log))
    }

    /// An event that does not parse stops the move: the log is left in format 1, as it was.
    @Test func aFormatOneLogWithABadEventIsNotMoved() async throws {
        let directory = try await interleavedLog()
        try rewriteInFormatOne(directory.path)
        try tamper(directory.path) { txn, events in try put(txn, events, 5, [0xFF, 0x00, 0x01]) }
        #expect(throws: EventLogError.self) { _ = try LMDBEventLog(directory: directory.path) }
        #expect(try marker(directory.path) == "authlog.eventlog/1")
        #expect(try databases(directory.path) == ["events", "meta", "streams", "unique"])
    }

    /// A reader that opened a format-1 log, which another process's writer then moved, is
    /// told to open it again instead of finding every stream empty in the deleted index.
    @Test func aReaderOfAFormatOneLogMovedUnderItIsToldToReopen() async throws {
        let directory = try await interleavedLog()
        try rewriteInFormatOne(directory.path)
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { log.close() }
        #expect(try log.readStream(streams[1], from: 1).count == 4)
        let probe = try run(productPath("eventlog-crash-probe"), [directory.path, "1", "-", "160", "1"])
        #expect(probe.status == 0)
        #expect(throws: EventLogError.self) { _ = try log.readStream(streams[1], from: 1) }
        #expect(throws: EventLogError.self) { _ = try log.currentVersion(of: streams[1]) }
    }

    /// A link no head reaches is still checked: one past the head would make every later
    /// commit fail (its key taken), and `verify` must not call that log intact.
    @Test func aLinkPastTheHeadIsFound() async throws {
        let directory = try await interleavedLog()
        try tamper(directory.path) { txn, _ in
            let links = try #require(try txn.openDatabase("links"))
            try positionKey(13).withUnsafeBytes { key in
                try positionKey(0).withUnsafeBytes { try txn.put(links, key: key, value: $0) }
            }
        }
        let found = try #require(try misfiled(in: directory))
        #expect(found.detail.contains("13 links for 12 events"))
    }

    /// Forged heads that share a real stream's links would cost `verify` a walk each: the
    /// walk stops once it has named more entries than the log holds events.
    @Test func forgedHeadsSharingAStreamsLinksStopTheWalk() async throws {
        let directory = try await interleavedLog()
        let head = try stored(7, of: streams[2], in: directory)
        try tamper(directory.path) { txn, _ in
            for _ in 0..<200 {
                try StreamIndexEdits.setHead(of: UUID(), version: 7, position: head.position, in: txn)
            }
        }
        let found = try #require(try misfiled(in: directory))
        #expect(found.detail.contains("more entries than the 12 events"))
    }

    @Test(arguments: ["forward", "self", "missing"])
    func aLinkThatCannotBeFollowedIsRefusedNotFollowed(_ kind: String) async throws {
        let directory = try await interleavedLog()
        let middle = try stored(4, of: streams[2], in: directory).position
        try tamper(directory.path) { txn, _ in
            let links = try #require(try txn.openDatabase("links"))
            switch kind {
            case "missing": _ = try positionKey(middle).withUnsafeBytes { try txn.delete(links, key: $0) }
            default:
                let target = kind == "self" ? middle : middle + 1
                try positionKey(middle).withUnsafeBytes { key in
                    try positionKey(target).withUnsafeBytes { try txn.put(links, key: key, value: $0) }
                }
            }
        }
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { log.close() }
        #expect(throws: EventLogError.self) { _ = try log.readStream(streams[2], from: 1) }
        // The stream's later events are still read: the walk back stops before the bad link.
        #expect(try log.readStream(streams[2], from: 5).map(\.streamVersion) == [5, 6, 7])
        let found = try #require(try misfiled(log))
        #expect(found.position == middle)
    }

    /// A head's version is not trusted for a size: one claiming 2^62 events, more than the
    /// positions before it, is refused as a read and as `verify`, without a crash or a vast
    /// allocation, and a writer would not add one to it.
    @Test func aHeadClaimingAVastVersionIsRefused() async throws {
        let directory = try await interleavedLog()
        let head = try stored(7, of: streams[2], in: directory)
        try tamper(directory.path) { txn, _ in
            try StreamIndexEdits.setHead(of: streams[2], version: 1 << 62, position: head.position, in: txn)
        }
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { log.close() }
        #expect(throws: EventLogError.self) { _ = try log.readStream(streams[2], from: 1) }
        #expect(throws: EventLogError.self) { _ = try log.currentVersion(of: streams[2]) }
        #expect(try misfiled(log) != nil)
    }

    @Test func aHeadMovedBackHidesEventsAndIsFound() async throws {
        let directory = try await interleavedLog()
        try moveHeadBack(in: directory)
        let found = try #require(try misfiled(in: directory))
        #expect(found.detail.contains("holds 10 entries for 12 events"))
    }

    /// A head moved back under a format-1 marker, beside a `streams` index that matches the
    /// events: a writer that opened the log as format 2 still follows the heads, so `verify`
    /// must not check the decoy index alone.
    @Test func aFormatOneMarkerOverHeadsAndLinksIsFound() async throws {
        let directory = try await interleavedLog()
        try moveHeadBack(in: directory)
        try rewriteInFormatOne(directory.path, keepingHeadsAndLinks: true)
        let found = try #require(try misfiled(in: directory))
        #expect(found.detail.contains("heads or links"))
    }
}

/// Rewrites a log in format 1's layout (docs/data-model.md): a `streams` entry per event,
/// keyed by stream id and big-endian version, valued by the big-endian position; no `heads`
/// or `links` (unless `keepingHeadsAndLinks`, for a decoy beside them); the format-1 marker.
func rewriteInFormatOne(_ directory: String, keepingHeadsAndLinks: Bool = false) throws {
    try tamper(directory) { txn, events in
        let streams = try #require(try txn.openDatabase("streams", flags: .create))
        try txn.withCursor(events) { cursor in
            var entry = try cursor.first()
            while let current = entry {
                let view = try Envelope.parse(current.value)
                try streamKey(view.streamID, view.streamVersion).withUnsafeBytes { key in
                    try txn.put(streams, key: key, value: current.key)
                }
                entry = try cursor.next()
            }
        }
        if !keepingHeadsAndLinks {
            try txn.drop(try #require(try txn.openDatabase("heads")))
            try txn.drop(try #require(try txn.openDatabase("links")))
        }
        let meta = try #require(try txn.openDatabase("meta"))
        try Array("format".utf8).withUnsafeBytes { key in
            try Array("authlog.eventlog/1".utf8).withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
        }
    }
}

func streamKey(_ stream: UUID, _ version: UInt64) -> [UInt8] {
    withUnsafeBytes(of: stream.uuid) { Array($0) } + withUnsafeBytes(of: version.bigEndian) { Array($0) }
}

/// The names in the environment's main database: its named databases.
func databases(_ directory: String) throws -> [String] {
    let environment = try Environment(path: directory, options: .init(maxDatabases: 16, readOnly: true))
    defer { environment.close() }
    let txn = try environment.beginTransaction(readOnly: true)
    let main = try #require(try txn.openDatabase(nil))
    return try txn.withCursor(main) { cursor in
        var names: [String] = []
        var entry = try cursor.first()
        while let current = entry {
            names.append(String(decoding: current.key, as: UTF8.self))
            entry = try cursor.next()
        }
        return names
    }
}

func marker(_ directory: String) throws -> String? {
    let environment = try Environment(path: directory, options: .init(maxDatabases: 16, readOnly: true))
    defer { environment.close() }
    let txn = try environment.beginTransaction(readOnly: true)
    let meta = try #require(try txn.openDatabase("meta"))
    return try Array("format".utf8).withUnsafeBytes { key in
        try txn.get(meta, key: key).map { String(decoding: $0, as: UTF8.self) }
    }
}
