import EventLog
import Foundation
import LMDB

extension LMDBEventLog {
    /// Recomputes `hash(n) = SHA-256(hash(n-1) || canonical bytes of n)` over the range and
    /// names the first position where it breaks. Over the whole log it also checks the head
    /// recorded at the last commit, so a cut-off tail is found too.
    public func verify(from position: UInt64 = 1, through last: UInt64? = nil) throws -> ChainVerification {
        let (recordedHead, lastStored) = try readTransaction { txn in
            (try storage.head(in: txn), try storage.lastStoredPosition(in: txn))
        }
        if last == nil, lastStored > recordedHead.position {
            return .broken(
                ChainBreak(position: recordedHead.position + 1, reason: .pastHead(recordedHead: recordedHead.position)))
        }
        return try verify(from: position, through: last, recordedHead: recordedHead) { _, _ in nil }
    }

    /// The chain walk: `visit` sees each position's recomputed hash and may stop the walk
    /// with a break of its own.
    func verify(
        from position: UInt64, through last: UInt64?, recordedHead: LogHead,
        visit: (UInt64, ChainHash) -> ChainBreak?
    ) throws -> ChainVerification {
        var walk: ChainWalk
        switch try ChainWalk.starting(in: self, from: position, through: last, recordedHead: recordedHead) {
        case .walking(let started): walk = started
        case .broken(let broken): return .broken(broken)
        }
        let (start, end) = (walk.start, walk.end)
        var failure: ChainBreak?
        // What the stream index must hold, summed as the events pass (see ``IndexDigest``).
        var indexDigest = IndexDigest()
        try forEachStored(from: start) { key, stored in
            guard key <= end else { return false }
            switch walk.check(key, stored: stored) {
            case .broken(let broken):
                failure = broken
                return false
            case .linked(let link):
                indexDigest.add(stream: link.stream, version: link.version, position: key)
                if let broken = visit(key, link.hash) {
                    failure = broken
                    return false
                }
                walk.advance(link)
                return true
            }
        }
        if let failure = failure ?? walk.finish(last: last, recordedHead: recordedHead) { return .broken(failure) }
        if last == nil && start == 1, let misfiled = try checkStreamIndex(through: end, expecting: indexDigest) {
            return .broken(misfiled)
        }
        return walk.intact
    }
}

extension LMDBEventLog {
    /// Checks the stream index against the events through `end`: the digest of its entries,
    /// read in the index's order, must be `expected`, the digest of what the events say. Only
    /// when it is not are the entries looked up one by one, to name the bad one; an index that
    /// cannot be read through (``LogStorage/forEachIndexEntry(in:events:_:)``) is named at once.
    func checkStreamIndex(through end: UInt64, expecting expected: IndexDigest) throws -> ChainBreak? {
        var found = IndexDigest(seed: expected.seed)
        let fault = try readTransaction { txn -> ChainBreak? in
            let snapshotHead = try storage.head(in: txn).position
            return try storage.forEachIndexEntry(in: txn, events: snapshotHead) { stream, version, position in
                // Appends after the walk's snapshot may add entries past `end`.
                if !(position > end && position <= snapshotHead) {
                    found.add(stream: stream, version: version, position: position)
                }
                return nil
            }
        }
        // A fault of the index's own shape is named as it is; entries that do not match the
        // events are looked up one by one.
        if let fault { return fault }
        if found == expected { return nil }
        return try findMisfiledEntry(through: end)
            ?? ChainBreak(position: end, reason: .misfiled("the stream index does not match the events"))
    }

    /// Looks every stream index entry up: each names an event of its own stream and version,
    /// and there is one entry per event. The index is derived data that no hash covers, yet
    /// readers follow it.
    func findMisfiledEntry(through end: UInt64) throws -> ChainBreak? {
        try readTransaction { txn in
            // Appends after the walk's snapshot may add entries past `end`, up to this head.
            let snapshotHead = try storage.head(in: txn).position
            var entries: UInt64 = 0
            let problem = try storage.forEachIndexEntry(in: txn, events: snapshotHead) {
                stream, version, position -> ChainBreak? in
                if position > end && position <= snapshotHead { return nil }
                guard position >= 1, position <= end else {
                    return ChainBreak(
                        position: position, reason: .misfiled("the stream index points past the log's head"))
                }
                guard let stored = try withPositionKey(position, { try txn.get(storage.events, key: $0) }) else {
                    return ChainBreak(
                        position: position, reason: .misfiled("the stream index points to a missing event"))
                }
                let view = try storage.envelope(stored, at: position)
                guard view.streamID == stream, view.streamVersion == version else {
                    return ChainBreak(
                        position: position, reason: .misfiled("the stream index names it for another stream or version")
                    )
                }
                entries += 1
                return nil
            }
            if let problem { return problem }
            guard entries == end else {
                return ChainBreak(
                    position: end, reason: .misfiled("the stream index holds \(entries) entries for \(end) events"))
            }
            return nil
        }
    }
}

extension LogStorage {
    /// Hands every entry the stream index holds to `body` as (stream, version, position), in
    /// the index's own order, until `body` names a break; names a fault of the index's own
    /// shape as one: a malformed entry, or (format 2) a head or link that cannot be followed,
    /// more entries than the log's `events` (forged heads that share a stream's links would
    /// otherwise cost a walk each), or a count of links other than `events`, one an event
    /// (a link no head reaches is checked no other way, and one past the head would fail
    /// every later commit).
    func forEachIndexEntry(
        in txn: borrowing Transaction, events: UInt64, _ body: (UUID, UInt64, UInt64) throws -> ChainBreak?
    ) throws -> ChainBreak? {
        switch index {
        case .perEvent(let streams):
            try checkStillFormatOne(in: txn)
            // Format 1 never had heads or links. Beside its marker they are format 2's, which a
            // writer that opened the log as format 2 still follows, whatever `streams` says.
            let formatTwos = [LogLayout.headsDatabase, LogLayout.linksDatabase]
            if try formatTwos.contains(where: { try txn.openDatabase($0) != nil }) {
                let detail = "a log marked as format 1 that holds format 2's heads or links, which a writer may follow"
                return ChainBreak(position: 0, reason: .misfiled(detail))
            }
            return try txn.withCursor(streams) { cursor -> ChainBreak? in
                var entry = try cursor.first()
                while let current = entry {
                    guard current.key.count == 24, current.value.count == 8 else {
                        return ChainBreak(position: 0, reason: .misfiled("a malformed stream index entry"))
                    }
                    let stream = UUID(uuid: current.key.loadUnaligned(as: uuid_t.self))
                    let version = decodePosition(UnsafeRawBufferPointer(rebasing: current.key[16..<24]))
                    if let problem = try body(stream, version, decodePosition(current.value)) { return problem }
                    entry = try cursor.next()
                }
                return nil
            }
        case .heads(let heads, let links):
            var walked: UInt64 = 0
            let fault = try txn.withCursor(heads) { cursor -> ChainBreak? in
                var entry = try cursor.first()
                while let current = entry {
                    guard current.key.count == 16, let head = StreamHead(current.value), head.isPlausible else {
                        return ChainBreak(position: 0, reason: .misfiled("a malformed stream head"))
                    }
                    let stream = UUID(uuid: current.key.loadUnaligned(as: uuid_t.self))
                    var problem: ChainBreak?
                    let fault = try walkBack(from: head, to: 1, links: links, in: txn) { version, position in
                        walked += 1
                        guard walked <= events else {
                            problem = ChainBreak(
                                position: events,
                                reason: .misfiled("the stream index names more entries than the \(events) events"))
                            return false
                        }
                        problem = try body(stream, version, position)
                        return problem == nil
                    }
                    if let problem { return problem }
                    if let fault { return ChainBreak(position: fault.position, reason: .misfiled(fault.detail)) }
                    entry = try cursor.next()
                }
                return nil
            }
            if let fault { return fault }
            let count = try txn.count(links)
            guard UInt64(count) == events else {
                return ChainBreak(
                    position: events, reason: .misfiled("the stream index holds \(count) links for \(events) events"))
            }
            return nil
        }
    }
}

/// An order-independent digest of (stream, version, position) triples: each is mixed with a
/// seed drawn for this verification and the results are added up, so the stream index (read
/// in its own order) and the events (read in position order) can be compared in one pass each.
/// The seed is secret to the run, so no one can prepare an index whose sum collides.
struct IndexDigest: Equatable {
    let seed: UInt64
    private(set) var sum: UInt64 = 0
    private(set) var count: UInt64 = 0

    init(seed: UInt64 = UInt64.random(in: .min ... .max)) {
        self.seed = seed
    }

    mutating func add(stream: UUID, version: UInt64, position: UInt64) {
        let (a, b) = withUnsafeBytes(of: stream.uuid) {
            ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
        var h = Self.mix(seed ^ a)
        h = Self.mix(h ^ b)
        h = Self.mix(h ^ version)
        h = Self.mix(h ^ position)
        sum &+= h
        count += 1
    }

    /// SplitMix64's finaliser.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
