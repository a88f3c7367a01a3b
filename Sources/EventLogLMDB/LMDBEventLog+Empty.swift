import EventLog
import LMDB

extension LMDBEventLog {
    /// Empties the log inside a write transaction the caller holds: its events, streams,
    /// claims, head and checkpoints go; the format marker and the written-in-map mark stay. For a copy of another log
    /// that is made again from its source (a cluster node's copy of the shared log, whose
    /// projection and claims the caller resets in the same transaction), never for a log of
    /// record. A log that signs its checkpoints refuses (``EventLogError/readOnly``).
    public func removeAllEvents(in txn: borrowing Transaction) throws {
        guard storage.signingKey.withLock({ $0 }) == nil else { throw EventLogError.readOnly }
        let inMap = try LogLayout.writtenInMapKey.withUnsafeBytes { try txn.get(storage.meta, key: $0) } != nil
        try txn.clear(storage.events)
        try txn.clear(storage.streams)
        try txn.clear(storage.unique)
        try txn.clear(storage.meta)
        try LogLayout.formatKey.withUnsafeBytes { key in
            try Array(LogLayout.formatMarker.utf8).withUnsafeBytes { try txn.put(storage.meta, key: key, value: $0) }
        }
        if inMap { try LogStorage.markWrittenInMap(storage.meta, in: txn) }
        storage.knownCheckpoint.withLock { $0 = nil }
    }
}
