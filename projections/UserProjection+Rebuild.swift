import AuthDomain
import Dispatch
import EventLog
import EventLogLMDB
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

extension UserProjection {
    /// Folds the whole log into the spare generation and switches to it in one transaction.
    ///
    /// The live generation keeps serving and taking appends meanwhile. The fold runs in
    /// memory (one state per user), then rows and index entries are written in key order with
    /// `MDB_APPEND`, in transactions of 50,000, so appends wait at most one of them. The
    /// last transaction folds what was appended since the start and switches the catalog;
    /// a crash before it leaves the old generation live and the next rebuild starts over.
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

        // 1. Fold in memory, one partition of the users per core: each reader walks the whole
        // log but decodes and folds only its own users' events, so streams stay in order.
        let partitions = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        let folded = Mutex<[[UUID: UserState]]>(Array(repeating: [:], count: partitions))
        let failure = Mutex<(any Error)?>(nil)
        let reported = Mutex(0.0)
        DispatchQueue.concurrentPerform(iterations: partitions) { part in
            var states: [UUID: UserState] = [:]
            do {
                try log.forEachEnvelope(from: 1) { view in
                    guard view.position <= head else { return false }
                    guard Self.partition(of: view.streamID, among: partitions) == part else { return true }
                    let event = try sealing.decode(view)
                    states[view.streamID, default: UserState(id: view.streamID)].apply(event, at: view.recordedAt)
                    if part == 0, let progress, view.position & 0x3FFF == 0 {
                        let now = elapsed()
                        let due = reported.withLock { last -> Bool in
                            guard now - last >= 0.5 else { return false }
                            last = now
                            return true
                        }
                        if due {
                            let rate = Double(view.position) / now
                            progress(
                                RebuildProgress(
                                    phase: "folding", position: view.position, target: head, eventsPerSecond: rate,
                                    secondsLeft: rate > 0 ? Double(head - view.position) / rate : nil))
                        }
                    }
                    return true
                }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
            let result = states
            folded.withLock { $0[part] = result }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        var parts = folded.withLock { parts in
            defer { parts = [] }
            return parts
        }
        let foldSeconds = elapsed()

        // 2. Encode rows (sealing each user's personal fields once) on every core, then write
        // them and the index entries in key order with MDB_APPEND.
        var ids = parts.flatMap(\.keys)
        ids.sort { Self.orderKey($0) < Self.orderKey($1) }
        progress?(
            RebuildProgress(
                phase: "writing", position: head, target: head, eventsPerSecond: Double(head) / elapsed(),
                secondsLeft: nil))
        let frozen = parts
        @Sendable func states(_ id: UUID) -> UserState { frozen[Self.partition(of: id, among: partitions)][id]! }
        let chunkSize = 50_000
        for chunk in stride(from: 0, to: ids.count, by: chunkSize) {
            let slice = Array(ids[chunk..<min(chunk + chunkSize, ids.count)])
            let rows = Mutex<[[UInt8]?]>(Array(repeating: nil, count: slice.count))
            let encodeFailure = Mutex<(any Error)?>(nil)
            DispatchQueue.concurrentPerform(iterations: partitions) { part in
                var encoded: [(Int, [UInt8])] = []
                for index in stride(from: part, to: slice.count, by: partitions) {
                    do {
                        encoded.append((index, try encodeRow(states(slice[index]), sealedPersonal: nil)))
                    } catch {
                        encodeFailure.withLock { $0 = $0 ?? error }
                        return
                    }
                }
                rows.withLock { rows in for (index, row) in encoded { rows[index] = row } }
            }
            if let error = encodeFailure.withLock({ $0 }) { throw error }
            let encoded = rows.withLock { $0 }
            try log.withWriteTransaction { txn in
                for (index, id) in slice.enumerated() {
                    try uuidKey(id).withUnsafeBytes { key in
                        try encoded[index]!.withUnsafeBytes {
                            try txn.put(tables[target].users, key: key, value: $0, flags: .append)
                        }
                    }
                }
            }
        }
        var roleKeys: [RoleKey] = []
        var counts: [[UInt8]: Int64] = [:]
        for id in ids {
            let state = states(id)
            guard state.exists else { continue }
            let key = RoleKey(role: state.role, deleted: state.isDeleted, id: id)
            roleKeys.append(key)
            counts[[state.role.code, state.isDeleted ? 1 : 0], default: 0] += 1
        }
        // ids are sorted, so a stable sort by (role, status) leaves each group in id order.
        let roleOrder = roleKeys.enumerated().sorted {
            ($0.element.role.code, $0.element.deleted ? 1 : 0, $0.offset) < (
                $1.element.role.code, $1.element.deleted ? 1 : 0, $1.offset
            )
        }
        for chunk in stride(from: 0, to: roleOrder.count, by: chunkSize) {
            let slice = roleOrder[chunk..<min(chunk + chunkSize, roleOrder.count)]
            try log.withWriteTransaction { txn in
                for (_, key) in slice {
                    try key.bytes.withUnsafeBytes { k in
                        try [UInt8]().withUnsafeBytes {
                            try txn.put(tables[target].roles, key: k, value: $0, flags: .append)
                        }
                    }
                }
            }
        }
        let users = ids.count
        parts = []
        ids = []

        // 3. Catch up with appends made meanwhile and switch, in one transaction.
        let caughtUp = try log.withWriteTransaction { txn -> UInt64 in
            for (key, count) in counts {
                try key.withUnsafeBytes { k in
                    try withUnsafeBytes(of: count.bigEndian) { try txn.put(tables[target].counts, key: k, value: $0) }
                }
            }
            let now = try log.headPosition(in: txn)
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
}

extension UserProjection {
    /// Which fold partition a user belongs to: by the id's last byte (random in every UUID version).
    static func partition(of id: UUID, among count: Int) -> Int {
        Int(id.uuid.15) % count
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
