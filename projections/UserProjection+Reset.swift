import LMDB

extension UserProjection {
    /// Empties both generations inside a write transaction the caller holds and marks the
    /// projection built at position 0, so that the events the caller then writes in the same
    /// transaction are folded by ``project(_:in:)`` from the first one. For a log that was
    /// emptied in that transaction (``LMDBEventLog/removeAllEvents(in:)``) to be filled with
    /// another history.
    ///
    /// A user's row may then hold another state at a version the decoded-row cache knows: the
    /// cache serves no read of a snapshot from this transaction on with an entry made before
    /// it (``DecodedRowCache/forgetAll(before:)``).
    public func reset(in txn: borrowing Transaction) throws {
        let generation = try entry(in: txn)?.generation ?? 0
        for g in tables.indices {
            try txn.clear(tables[g].users)
            try txn.clear(tables[g].roles)
            try txn.clear(tables[g].counts)
        }
        try write(CatalogEntry(version: codeVersion, generation: generation, checkpoint: 0), in: txn)
        decoded.forgetAll(before: txn.snapshotID)
    }

    /// The transaction of the last ``reset(in:)`` did not commit: the decoded-row cache serves
    /// reads as before it (nothing of another history was committed).
    public func resetAbandoned() {
        decoded.forgetAbandoned()
    }
}
