import EventLog
import Foundation
import LMDB

/// How a log finds a stream's events (see ``LogLayout``).
enum StreamIndex: Sendable {
    /// Format 2: each stream's head, and a link from each event to its stream's one before.
    case heads(heads: Database, links: Database)
    /// Format 1: an entry per event, keyed by stream and version. Only read: a writer moves
    /// such a log to format 2 when it opens it.
    case perEvent(streams: Database)
}

extension LogStorage {
    /// The stream's version and last position, both 0 when it has none.
    func currentHead(of stream: UUID, in txn: borrowing Transaction) throws -> StreamHead {
        switch index {
        case .heads(let heads, _):
            guard let stored = try withStreamIDKey(stream, { try txn.get(heads, key: $0) }) else { return .none }
            // Refused before a writer adds one to a forged version.
            guard let head = StreamHead(stored), head.isPlausible else {
                throw EventLogError.corrupt(position: 0, detail: "a malformed stream head for \(stream)")
            }
            return head
        case .perEvent(let streams):
            try checkStillFormatOne(in: txn)
            return try txn.withCursor(streams) { cursor in
                let after = try withStreamKey(stream, .max) { try cursor.seek(atOrAfter: $0) }
                let candidate = after == nil ? try cursor.last() : try cursor.previous()
                guard let candidate, candidate.key.count == 24, candidate.value.count == 8,
                    withUnsafeBytes(of: stream.uuid, { candidate.key.starts(with: $0) })
                else { return .none }
                return StreamHead(
                    version: decodePosition(UnsafeRawBufferPointer(rebasing: candidate.key[16..<24])),
                    position: decodePosition(candidate.value))
            }
        }
    }

    /// A reader that opened a format-1 log reads its `streams` index only while the log is
    /// still in format 1: a writer that opened it since moved it to format 2 and deleted the
    /// index, which would read as empty.
    func checkStillFormatOne(in txn: borrowing Transaction) throws {
        let marker = try LogLayout.formatKey.withUnsafeBytes { key in
            try txn.get(meta, key: key).map { String(decoding: $0, as: UTF8.self) }
        }
        guard marker == "\(LogLayout.formatName)/\(LogLayout.perEventIndexFormat)" else {
            throw EventLogError.storage(
                detail:
                    "the log was moved to format \(LogLayout.formatVersion) while this reader had it open: open it again"
            )
        }
    }

    /// Indexes the event at `position` as its stream's next after `previous` (the stream's
    /// head before it): its link. The stream's head is written by ``writeHead(_:of:in:)``.
    /// Positions only grow, so the link goes at the end of `links`, beside the last commit's.
    @inline(__always)
    func link(_ position: UInt64, after previous: UInt64, in txn: borrowing Transaction) throws {
        guard case .heads(_, let links) = index else { throw EventLogError.readOnly }
        try withPositionKey(position) { key in
            try withPositionKey(previous) { try txn.put(links, key: key, value: $0, flags: .append) }
        }
    }

    /// Records `head` as the stream's head.
    @inline(__always)
    func writeHead(_ head: StreamHead, of stream: UUID, in txn: borrowing Transaction) throws {
        guard case .heads(let heads, _) = index else { throw EventLogError.readOnly }
        try withStreamIDKey(stream) { key in try head.withEncoded { try txn.put(heads, key: key, value: $0) } }
    }

    /// The positions of the stream's events from `version` on, oldest first, as `txn` sees
    /// them. The index is derived data that no hash covers: the caller checks each event's
    /// stream and version against what this promises (version `version`, then one more each).
    func positions(inStream stream: UUID, from version: UInt64, in txn: borrowing Transaction) throws -> [UInt64] {
        try positions(inStream: stream, from: version, through: nil, in: txn)
    }

    /// As ``positions(inStream:from:in:)``, through `last` (a version of the stream and its
    /// position, which the caller checks as it checks the others) instead of the stream's
    /// head when given: a walk that starts there, not at the head. Format 1 ignores it.
    func positions(
        inStream stream: UUID, from version: UInt64, through last: StreamHead?, in txn: borrowing Transaction
    ) throws -> [UInt64] {
        let first = max(version, 1)
        switch index {
        case .heads(_, let links):
            let head = try last ?? currentHead(of: stream, in: txn)
            guard head.version >= first else { return [] }
            // Gathered as the links are followed, never sized by the head's version: a
            // forged head cannot make this allocate more than the links it can follow.
            var positions: [UInt64] = []
            let fault = try walkBack(from: head, to: first, links: links, in: txn) { _, position in
                positions.append(position)
                return true
            }
            if let fault { throw EventLogError.corrupt(position: fault.position, detail: fault.detail) }
            positions.reverse()
            return positions
        case .perEvent(let streams):
            try checkStillFormatOne(in: txn)
            return try txn.withCursor(streams) { cursor in
                var positions: [UInt64] = []
                var entry = try withStreamKey(stream, first) { try cursor.seek(atOrAfter: $0) }
                let prefix = withUnsafeBytes(of: stream.uuid) { Array($0) }
                var expected = first
                while let current = entry, current.key.count == 24, current.key.starts(with: prefix) {
                    let version = decodePosition(UnsafeRawBufferPointer(rebasing: current.key[16..<24]))
                    guard version == expected, current.value.count == 8 else {
                        throw EventLogError.corrupt(
                            position: current.value.count == 8 ? decodePosition(current.value) : 0,
                            detail: "the stream index skips from version \(expected - 1) to \(version)")
                    }
                    positions.append(decodePosition(current.value))
                    expected += 1
                    entry = try cursor.next()
                }
                return positions
            }
        }
    }
}

/// Where and why a walk down a stream's links stopped short of the version it was to reach.
struct LinkFault: Equatable {
    let position: UInt64
    let detail: String
}

extension LogStorage {
    /// Follows `links` from `head` down to version `first` (at least 1), handing each version
    /// and position to `visit`, newest first, until it returns false. Each link must point to
    /// an earlier position, so the walk ends whatever the head says, and version 1's must be
    /// 0; the first link that is missing or breaks that is returned, not followed.
    func walkBack(
        from head: StreamHead, to first: UInt64, links: Database, in txn: borrowing Transaction,
        _ visit: (_ version: UInt64, _ position: UInt64) throws -> Bool
    ) throws -> LinkFault? {
        var (version, position) = (head.version, head.position)
        while true {
            guard try visit(version, position) else { return nil }
            guard let stored = try withPositionKey(position, { try txn.get(links, key: $0) }), stored.count == 8 else {
                return LinkFault(position: position, detail: "an event of the stream without its link")
            }
            let previous = decodePosition(stored)
            if version == first {
                guard first > 1 || previous == 0 else {
                    return LinkFault(position: position, detail: "the stream's first event links to an earlier one")
                }
                return nil
            }
            guard previous > 0, previous < position else {
                return LinkFault(
                    position: position, detail: "the link to the stream's event before points to \(previous)")
            }
            (version, position) = (version - 1, previous)
        }
    }
}

extension LogStorage {
    /// Moves a format-1 log to format 2 inside the opening writer's transaction: a link for
    /// each event and a head for each stream, made from the events themselves (in position
    /// order, so each link goes at the end of `links`), never from the old index, which is
    /// derived data no hash covers; then the `streams` index is deleted. The caller writes
    /// the new format marker in the same transaction, so a crash leaves the log as it was.
    /// An event that does not parse, or whose stream version does not follow its stream's
    /// last, is refused (``EventLogError/corrupt(position:detail:)``) and the log is left in
    /// format 1: `authctl verify` names what is wrong.
    static func moveToHeads(
        from streams: Database, events: Database, in txn: borrowing Transaction
    ) throws -> StreamIndex {
        let heads = try txn.openDatabase(LogLayout.headsDatabase, flags: .create)!
        let links = try txn.openDatabase(LogLayout.linksDatabase, flags: .create)!
        try txn.clear(heads)
        try txn.clear(links)
        var found = StreamHeads()
        var order: [UUID] = []
        try txn.withCursor(events) { cursor in
            var entry = try cursor.first()
            while let current = entry {
                guard current.key.count == 8 else {
                    throw EventLogError.corrupt(position: 0, detail: "a malformed position in the log")
                }
                let position = decodePosition(current.key)
                let view: EnvelopeView
                do {
                    view = try Envelope.parse(current.value)
                } catch {
                    throw EventLogError.corrupt(position: position, detail: "\(error): run authctl verify")
                }
                let previous = found.head(of: view.streamID) ?? .none
                guard view.position == position, view.streamVersion == previous.version + 1 else {
                    throw EventLogError.corrupt(
                        position: position,
                        detail: "stream version \(view.streamVersion) after \(previous.version): run authctl verify")
                }
                try withPositionKey(previous.position) {
                    try txn.put(links, key: current.key, value: $0, flags: .append)
                }
                if previous.version == 0 { order.append(view.streamID) }
                found.set(StreamHead(version: view.streamVersion, position: position), for: view.streamID)
                entry = try cursor.next()
            }
        }
        for stream in order {
            try withStreamIDKey(stream) { key in
                try found.head(of: stream)!.withEncoded { try txn.put(heads, key: key, value: $0) }
            }
        }
        try txn.drop(streams)
        return .heads(heads: heads, links: links)
    }
}
