import AuthDomain
import Dispatch
import EventLog
import EventLogLMDB
import Foundation
import LMDB

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
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        let target = try log.withWriteTransaction { txn -> Int in
            let spare = try entry(in: txn).map { 1 - $0.generation } ?? 0
            try txn.clear(tables[spare].users)
            try txn.clear(tables[spare].roles)
            try txn.clear(tables[spare].counts)
            return spare
        }
        let head = try log.headPosition()

        // 1. Fold in memory.
        var states: [UUID: UserState] = [:]
        var lastReport = elapsed()
        try log.forEachEnvelope(from: 1) { view in
            guard view.position <= head else { return false }
            let event = try sealing.decode(view)
            states[view.streamID, default: UserState(id: view.streamID)] = states[
                view.streamID, default: UserState(id: view.streamID)
            ].evolve(event, at: view.recordedAt)
            if let progress, view.position & 0xFFFF == 0, elapsed() - lastReport >= 0.5 {
                lastReport = elapsed()
                let rate = Double(view.position) / lastReport
                progress(
                    RebuildProgress(
                        phase: "folding", position: view.position, target: head, eventsPerSecond: rate,
                        secondsLeft: rate > 0 ? Double(head - view.position) / rate : nil))
            }
            return true
        }

        // 2. Write rows and index entries in key order.
        let ids = states.keys.sorted { uuidKey($0).lexicographicallyPrecedes(uuidKey($1)) }
        progress?(
            RebuildProgress(
                phase: "writing", position: head, target: head, eventsPerSecond: Double(head) / elapsed(),
                secondsLeft: nil))
        for chunk in stride(from: 0, to: ids.count, by: 50_000) {
            let slice = ids[chunk..<min(chunk + 50_000, ids.count)]
            try log.withWriteTransaction { txn in
                for id in slice {
                    try putRow(states[id]!, sealedPersonal: nil, generation: target, in: txn, append: true)
                }
            }
        }
        var roleKeys: [[UInt8]] = []
        var counts: [[UInt8]: Int64] = [:]
        for state in states.values where state.exists {
            let key = RoleKey(role: state.role, deleted: state.isDeleted, id: state.id).bytes
            roleKeys.append(key)
            counts[Array(key.prefix(2)), default: 0] += 1
        }
        roleKeys.sort { $0.lexicographicallyPrecedes($1) }
        for chunk in stride(from: 0, to: roleKeys.count, by: 50_000) {
            let slice = roleKeys[chunk..<min(chunk + 50_000, roleKeys.count)]
            try log.withWriteTransaction { txn in
                for key in slice {
                    try key.withUnsafeBytes { k in
                        try [UInt8]().withUnsafeBytes {
                            try txn.put(tables[target].roles, key: k, value: $0, flags: .append)
                        }
                    }
                }
            }
        }
        let users = states.count
        states = [:]

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
        let report = RebuildReport(events: head, users: users, seconds: elapsed(), caughtUp: caughtUp)
        progress?(
            RebuildProgress(
                phase: "done", position: head + caughtUp, target: head, eventsPerSecond: report.eventsPerSecond,
                secondsLeft: 0))
        return report
    }
}
