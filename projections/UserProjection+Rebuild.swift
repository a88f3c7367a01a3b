import AuthDomain
import DataProtection
import Dispatch
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import LMDB
import Synchronization

/// How far a rebuild has come.
public struct RebuildProgress: Sendable {
    public var phase: String
    public var position: UInt64
    /// The head when the rebuild started; events appended since are caught up at the end.
    public var target: UInt64
    public var eventsPerSecond: Double
    public var secondsLeft: Double?
}

/// What a finished rebuild did.
public struct RebuildReport: Sendable {
    public var events: UInt64
    public var users: Int
    public var seconds: Double
    public var eventsPerSecond: Double { seconds > 0 ? Double(events) / seconds : 0 }
    /// Of `seconds`, the time spent folding the log in memory (the rest: writing, switching).
    public var foldSeconds: Double
    /// Events appended while it ran, folded in just before the switch.
    public var caughtUp: UInt64
}

/// The log was emptied and filled with another history while a rebuild folded it (a cluster
/// node's copy made again beside `authctl rebuild`): nothing was switched; run it again.
public struct LogReplacedDuringRebuild: Error, CustomStringConvertible {
    public var description: String {
        "the log was made again from the shared log while the rebuild ran; nothing was switched: run the rebuild again"
    }
}

extension UserProjection {
    /// The chain hash of the event at `position` (`nil` for position 0).
    func hash(at position: UInt64, in txn: borrowing Transaction) throws -> ChainHash? {
        var hash: ChainHash?
        if position > 0 { try log.forEachEnvelope(in: txn, from: position, through: position) { hash = $0.hash } }
        return hash
    }

    func hash(at position: UInt64) throws -> ChainHash? {
        try log.environment.read { txn in try hash(at: position, in: txn) }
    }

    /// Folds the whole log into the spare generation and switches to it in one transaction.
    ///
    /// The live generation keeps serving and taking appends meanwhile. The fold runs in
    /// memory, one partition of the users per core (``FoldPartition``), then rows and index
    /// entries are written in key order with `MDB_APPEND`, in transactions of 65,536, so
    /// appends wait at most one of them. The last transaction folds what was appended since
    /// the start and switches the catalog; a crash before it leaves the old generation live
    /// and the next rebuild starts over. A log made again meanwhile (another history: a
    /// cluster node's copy, ``reset(in:)``) switches nothing and throws
    /// ``LogReplacedDuringRebuild``.
    @discardableResult
    public func rebuild(progress: (@Sendable (RebuildProgress) -> Void)? = nil) throws -> RebuildReport {
        let started = DispatchTime.now().uptimeNanoseconds
        @Sendable func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        let target = try log.withWriteTransaction { txn -> Int in
            let spare = try entry(in: txn).map { 1 - $0.generation } ?? 0
            try txn.clear(tables[spare].users)
            try txn.clear(tables[spare].roles)
            try txn.clear(tables[spare].counts)
            return spare
        }
        let head = try log.headPosition()
        let headHash = try hash(at: head)
        let partitions = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        var folds = try fold(through: head, partitions: partitions) { position in
            let rate = Double(position) / elapsed()
            progress?(
                RebuildProgress(
                    phase: "folding", position: position, target: head, eventsPerSecond: rate,
                    secondsLeft: rate > 0 ? Double(head - position) / rate : nil))
        }
        let foldSeconds = elapsed()
        progress?(
            RebuildProgress(
                phase: "writing", position: head, target: head, eventsPerSecond: Double(head) / elapsed(),
                secondsLeft: nil))
        let (users, counts) = try write(folds, into: target, partitions: partitions)
        for part in folds.indices { folds[part].forgetKeys() }
        // Freeing a million states (their strings one by one, then the pages) takes about a
        // tenth of a second of one core: done on another thread, once the keys are wiped,
        // instead of before the switch.
        let spent = folds
        folds = []
        DispatchQueue.global(qos: .utility).async { withExtendedLifetime(spent) {} }

        // Catch up with appends made meanwhile and switch, in one transaction.
        let caughtUp = try log.withWriteTransaction { txn -> UInt64 in
            for (key, count) in counts {
                try withUnsafeBytes(of: key.bigEndian) { k in
                    try withUnsafeBytes(of: count.bigEndian) { try txn.put(tables[target].counts, key: k, value: $0) }
                }
            }
            let now = try log.headPosition(in: txn)
            // A node's copy made again meanwhile (LogMirror) holds another history: the fold
            // is of the old one.
            guard now >= head, try hash(at: head, in: txn) == headHash else { throw LogReplacedDuringRebuild() }
            try log.forEachEnvelope(in: txn, from: head + 1, through: now) { view in
                try apply(view.recorded, to: target, in: txn)
            }
            let previous = try entry(in: txn)
            try write(CatalogEntry(version: codeVersion, generation: target, checkpoint: now), in: txn)
            if let previous, previous.generation != target {
                try txn.clear(tables[previous.generation].users)
                try txn.clear(tables[previous.generation].roles)
                try txn.clear(tables[previous.generation].counts)
            }
            return now - head
        }
        let report = RebuildReport(
            events: head, users: users, seconds: elapsed(), foldSeconds: foldSeconds, caughtUp: caughtUp)
        progress?(
            RebuildProgress(
                phase: "done", position: head + caughtUp, target: head, eventsPerSecond: report.eventsPerSecond,
                secondsLeft: 0))
        return report
    }

    /// Folds events 1 through `head` in memory, one partition per core: each walks the whole
    /// log but parses, opens and folds only its own users' events, so each stream stays in
    /// order. Data keys are loaded in bulk first, each by the partition that needs it.
    func fold(
        through head: UInt64, partitions: Int, progress: @escaping @Sendable (UInt64) -> Void
    ) throws -> [FoldPartition] {
        // Users fall into partitions by a random id byte, so a partition's share varies by
        // about the square root of it: without slack one array in two outgrows its capacity
        // and doubles (a copy of hundreds of megabytes, and as much again mapped in afresh).
        let share = sealing.keys.storedKeyCount / partitions
        let expected = share + 8 * Int(Double(share).squareRoot()) + 1_024
        let folded = Mutex<[FoldPartition]>(Array(repeating: FoldPartition(expectedUsers: 0), count: partitions))
        let failure = Mutex<(any Error)?>(nil)
        let lastReport = Mutex(DispatchTime.now().uptimeNanoseconds)
        DispatchQueue.concurrentPerform(iterations: partitions) { part in
            var fold = FoldPartition(expectedUsers: expected)
            do {
                let mine = { (id: UUID) in Self.partition(of: id, among: partitions) == part }
                try sealing.keys.forEachDataKey(where: mine) { user, key in fold.addKey(key, for: user) }
                let context = try AESGCMContext()
                var key: DataKeyBytes = (0, 0, 0, 0)
                defer { withUnsafeMutableBytes(of: &key) { cleanse($0) } }
                var seen = 0
                try log.forEachEnvelope(
                    from: 1, through: head, streams: { Self.partition(ofIDBytes: $0, among: partitions) == part }
                ) { view in
                    let kind = try UserEventSealing.kind(of: view)
                    let index = fold.index(of: view.streamID)
                    let event =
                        fold.copyKey(at: index, into: &key)
                        ? try withUnsafeBytes(of: key) {
                            try sealing.decode(view, kind: kind, key: $0, context: context)
                        }
                        : try sealing.decode(view, kind: kind, key: nil, context: context)
                    fold.apply(event, at: view.recordedAt, to: index)
                    seen += 1
                    if part == 0, seen & 0x3FFF == 0 {
                        let now = DispatchTime.now().uptimeNanoseconds
                        let due = lastReport.withLock { last -> Bool in
                            guard now - last >= 500_000_000 else { return false }
                            last = now
                            return true
                        }
                        if due { progress(view.position) }
                    }
                }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
            folded.withLock { [fold] in $0[part] = fold }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return folded.withLock { parts in
            defer { parts = [] }
            return parts
        }
    }

    /// Writes the folded users into generation `g` with `MDB_APPEND`, in key order: the role
    /// index, then the rows, sealed on every core while a writer thread puts the previous
    /// chunk. Returns the number of users and the role counts by role-index prefix.
    func write(_ folds: [FoldPartition], into g: Int, partitions: Int) throws -> (Int, [UInt16: Int64]) {
        let order = Self.keyOrder(folds)
        let chunkSize = 65_536
        let chunks = stride(from: 0, to: order.count, by: chunkSize).map { $0..<min($0 + chunkSize, order.count) }
        let writer = DispatchQueue(label: "authlog.rebuild.writer")
        let queued = DispatchSemaphore(value: 2)
        let writeFailure = Mutex<(any Error)?>(nil)
        defer { writer.sync {} }  // never return with a write still queued

        // The role index: (role, status, id). The order is by id, so placing each user after
        // the earlier ones of its (role, status) group (a counting sort) leaves each group in
        // id order. Written first, by the writer thread, while the rows are being encoded.
        var counts = [Int64](repeating: 0, count: 1 << 16)
        let groupOfUser = order.map { folds[Int($0.part)].states[Int($0.index)].roleIndexGroup }
        for group in groupOfUser { counts[Int(group)] += 1 }
        var next = [Int](repeating: 0, count: counts.count)
        for group in 1..<counts.count { next[group] = next[group - 1] + Int(counts[group - 1]) }
        let roleKeys = [(group: UInt16, at: Int)](unsafeUninitializedCapacity: groupOfUser.count) { keys, count in
            for (at, group) in groupOfUser.enumerated() {
                keys.initializeElement(at: next[Int(group)], to: (group, at))
                next[Int(group)] += 1
            }
            count = groupOfUser.count
        }
        writer.async {
            do {
                for chunk in stride(from: 0, to: roleKeys.count, by: chunkSize) {
                    try self.log.withWriteTransaction { txn in
                        try withUnsafeTemporaryAllocation(byteCount: 18, alignment: 8) { key in
                            for (group, at) in roleKeys[chunk..<min(chunk + chunkSize, roleKeys.count)] {
                                key.storeBytes(of: group.bigEndian, toByteOffset: 0, as: UInt16.self)
                                key.storeBytes(of: order[at].high.bigEndian, toByteOffset: 2, as: UInt64.self)
                                key.storeBytes(of: order[at].low.bigEndian, toByteOffset: 10, as: UInt64.self)
                                try txn.put(
                                    self.tables[g].roles, key: UnsafeRawBufferPointer(key),
                                    value: UnsafeRawBufferPointer(start: key.baseAddress, count: 0), flags: .append)
                            }
                        }
                    }
                }
            } catch {
                writeFailure.withLock { $0 = $0 ?? error }
            }
        }

        // Rows are encoded on every core while the writer puts the previous chunk: a put
        // waits mostly on the disk (each transaction is synced), the encoding on the CPU.
        // At most three chunks are in hand at once (one being put, one queued, one being
        // encoded), so three sets of buffers, reused in turn, hold them all: fresh ones for
        // every chunk cost a page fault per 4 KiB.
        let buffers = (0..<3).map { _ in
            (0..<partitions).map { _ in EncodedRows(capacity: chunkSize / partitions + 1) }
        }
        for (number, range) in chunks.enumerated() {
            let rows = buffers[number % buffers.count]
            try encodeRows(range, into: rows) { at, body in
                let (part, index) = (Int(order[at].part), Int(order[at].index))
                try folds[part].withState(at: index, body)
            }
            queued.wait()
            if let error = writeFailure.withLock({ $0 }) { throw error }
            writer.async {
                defer { queued.signal() }
                do {
                    let users = self.tables[g].users
                    try self.log.withWriteTransaction { txn in
                        try EncodedRows.forEachInterleaved(rows) { offset, row in
                            let at = range.lowerBound + offset
                            try withUnsafeBytes(of: (order[at].high.bigEndian, order[at].low.bigEndian)) { key in
                                try txn.put(users, key: key, value: row, flags: .append)
                            }
                        }
                    }
                } catch {
                    writeFailure.withLock { $0 = $0 ?? error }
                }
            }
        }
        writer.sync {}
        if let error = writeFailure.withLock({ $0 }) { throw error }
        var groups: [UInt16: Int64] = [:]
        for (group, count) in counts.enumerated() where count > 0 { groups[UInt16(group)] = count }
        return (order.count, groups)
    }

    /// Every existing user as (id words, partition, index), sorted by id: the key order.
    static func keyOrder(_ folds: [FoldPartition]) -> [(high: UInt64, low: UInt64, part: UInt32, index: UInt32)] {
        var order: [(high: UInt64, low: UInt64, part: UInt32, index: UInt32)] = []
        order.reserveCapacity(folds.reduce(0) { $0 + $1.count })
        for (part, fold) in folds.enumerated() {
            for (index, state) in fold.states.enumerated() where state.exists {
                let (high, low) = orderKey(state.id)
                order.append((high, low, UInt32(part), UInt32(index)))
            }
        }
        order.sort { ($0.high, $0.low) < ($1.high, $1.low) }
        return order
    }

    /// Encodes and seals the rows of the users at `range` of the sorted order on every core,
    /// into `rows` (one buffer per core, emptied first): the row at offset `o` of the range is
    /// `rows[o % rows.count]`'s `o / rows.count`-th.
    private func encodeRows(
        _ range: Range<Int>, into rows: [EncodedRows],
        user: @Sendable (Int, (UnsafePointer<UserState>, UnsafeRawBufferPointer?) throws -> Void) throws -> Void
    ) throws {
        let failure = Mutex<(any Error)?>(nil)
        DispatchQueue.concurrentPerform(iterations: rows.count) { part in
            do {
                let context = try AESGCMContext()
                var encoded = rows[part].takeAll()
                defer { rows[part].giveBack(encoded) }
                var scratch = ByteWriter(capacity: 256)
                var associatedData = UserRow.sealingContext(
                    UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
                let idOffset = associatedData.count - 16
                for offset in stride(from: part, to: range.count, by: rows.count) {
                    try user(range.lowerBound + offset) { state, key in
                        withUnsafeBytes(of: state.pointee.id.uuid) { id in
                            associatedData.withUnsafeMutableBytes {
                                $0.baseAddress!.advanced(by: idOffset).copyMemory(from: id.baseAddress!, byteCount: 16)
                            }
                        }
                        try UserRow.encode(state, into: &encoded.bytes, scratch: &scratch) { plain, writer in
                            guard let key else {  // no key: nothing personal is kept
                                writer.writeVarint(0)
                                return
                            }
                            writer.writeVarint(UInt64(plain.count + AESGCM.overhead))
                            try writer.append(count: plain.count + AESGCM.overhead) { out in
                                try associatedData.withUnsafeBytes {
                                    try context.seal(plain, key: key, associatedData: $0, into: out)
                                }
                            }
                        }
                    }
                    encoded.ends.append(encoded.bytes.bytes.count)
                }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }
}

/// Rows laid out one after another in one buffer, with where each ends. A class, so that a
/// rebuild reuses its memory from chunk to chunk and each core fills its own in place; the
/// rebuild hands one to the writer thread and takes it back only after that put is done.
final class EncodedRows: @unchecked Sendable {
    struct Buffers {
        var bytes: ByteWriter
        var ends: [Int]
    }

    private var buffers: Buffers

    init(capacity: Int) {
        buffers = Buffers(bytes: ByteWriter(capacity: capacity * 400), ends: [])
        buffers.ends.reserveCapacity(capacity)
    }

    /// Moves the buffers out, emptied, for one core to fill as a local value (no exclusivity
    /// check per row, no copy on write); ``giveBack(_:)`` returns them.
    func takeAll() -> Buffers {
        var taken = Buffers(bytes: ByteWriter(capacity: 0), ends: [])
        swap(&taken, &buffers)
        taken.bytes.reset()
        taken.ends.removeAll(keepingCapacity: true)
        return taken
    }

    func giveBack(_ filled: consuming Buffers) {
        buffers = filled
    }

    /// Calls `body` with every row of `rows` in the order the rebuild laid them out: the row
    /// at offset `o` is `rows[o % rows.count]`'s `o / rows.count`-th. Each buffer is pinned
    /// once for the whole walk, not once per row.
    static func forEachInterleaved(
        _ rows: [EncodedRows], _ body: (Int, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        var pinned: [(bytes: UnsafeRawBufferPointer, ends: UnsafeBufferPointer<Int>)] = []
        pinned.reserveCapacity(rows.count)
        try pinning(rows[...], &pinned) { pinned in
            let total = pinned.reduce(0) { $0 + $1.ends.count }
            for offset in 0..<total {
                let (bytes, ends) = pinned[offset % pinned.count]
                let number = offset / pinned.count
                let start = number == 0 ? 0 : ends[number - 1]
                try body(offset, UnsafeRawBufferPointer(rebasing: bytes[start..<ends[number]]))
            }
        }
    }

    private static func pinning(
        _ rows: ArraySlice<EncodedRows>,
        _ pinned: inout [(bytes: UnsafeRawBufferPointer, ends: UnsafeBufferPointer<Int>)],
        _ body: ([(bytes: UnsafeRawBufferPointer, ends: UnsafeBufferPointer<Int>)]) throws -> Void
    ) throws {
        guard let first = rows.first else { return try body(pinned) }
        try first.buffers.bytes.bytes.withUnsafeBytes { bytes in
            try first.buffers.ends.withUnsafeBufferPointer { ends in
                pinned.append((bytes, ends))
                try pinning(rows.dropFirst(), &pinned, body)
            }
        }
    }
}

extension UserProjection {
    /// Which fold partition a user belongs to: by the id's last byte (random in every UUID version).
    static func partition(of id: UUID, among count: Int) -> Int {
        partition(ofIDBytes: id.uuid, among: count)
    }

    static func partition(ofIDBytes id: uuid_t, among count: Int) -> Int {
        Int(id.15) % count
    }

    /// The id's bytes as two big-endian words: sorting by it is sorting the LMDB keys.
    static func orderKey(_ id: UUID) -> (UInt64, UInt64) {
        withUnsafeBytes(of: id.uuid) {
            (
                UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)),
                UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            )
        }
    }
}

extension UserState {
    /// The role index's prefix for this user: role code, then 0 (live) or 1 (soft-deleted).
    var roleIndexGroup: UInt16 { UInt16(role.code) << 8 | (isDeleted ? 1 : 0) }
}
