import EventLog
import LMDB

extension LMDBEventLog {
    /// Empties the log inside a write transaction the caller holds: its events, stream index,
    /// claims, head and checkpoints go; the format marker and the written-in-map mark stay.
    /// For a copy of another log that is made again from its source (a cluster node's copy of
    /// the shared log, whose projection and claims the caller resets in the same transaction),
    /// never for a log of record. A log that signs its checkpoints refuses
    /// (``EventLogError/readOnly``).
    public func removeAllEvents(in txn: borrowing Transaction) throws {
        guard storage.signingKey.withLock({ $0 }) == nil else { throw EventLogError.readOnly }
        guard case .heads(let heads, let links) = storage.index else { throw EventLogError.readOnly }
        let inMap = try LogStorage.isWrittenInMap(storage.meta, in: txn)
        try txn.clear(storage.events)
        try txn.clear(heads)
        try txn.clear(links)
        try txn.clear(storage.unique)
        try txn.clear(storage.meta)
        try LogLayout.formatKey.withUnsafeBytes { key in
            try Array(LogLayout.formatMarker.utf8).withUnsafeBytes { try txn.put(storage.meta, key: key, value: $0) }
        }
        if inMap { try LogStorage.markWrittenInMap(storage.meta, in: txn) }
        storage.knownCheckpoint.withLock { $0 = nil }
    }

    /// Records in the log that writers with a writable map use it, so that a writer without
    /// one refuses it from then on (``EventLogError/writtenInMap(path:)``): for a cluster
    /// node's copy, once the node knows the directory holds its copy (a log made with the map
    /// is marked when it is made). Does nothing for a log opened without the map, or already
    /// marked.
    public func markWrittenInMap(in txn: borrowing Transaction) throws {
        guard writesInMap else { return }
        try LogStorage.markWrittenInMap(storage.meta, in: txn)
    }

    /// ``markWrittenInMap(in:)`` in a transaction of its own, written only when the mark is
    /// missing.
    public func markWrittenInMap() throws {
        guard writesInMap, try !LogStorage.isWrittenInMap(storage.environment) else { return }
        try withWriteTransaction { txn in try markWrittenInMap(in: txn) }
    }
}
