import EventLog
import LMDB

extension LMDBEventLog {
    /// Walks the stored events `from...through` inside a transaction the caller holds, such as
    /// the write transaction a ``TransactionalProjector`` runs in. Views are valid only
    /// during the call.
    public func forEachEnvelope(
        in txn: borrowing Transaction, from position: UInt64, through last: UInt64,
        _ body: (EnvelopeView) throws -> Void
    ) throws {
        guard position <= last else { return }
        try txn.withCursor(storage.events) { cursor in
            var entry = try withPositionKey(position) { try cursor.seek(atOrAfter: $0) }
            while let current = entry {
                let key = decodePosition(current.key)
                guard key <= last else { return }
                try body(try storage.envelope(current.value, at: key))
                entry = try cursor.next()
            }
        }
    }

    /// The head (position, chain hash, time) as `txn` sees it.
    public func head(in txn: borrowing Transaction) throws -> LogHead {
        try storage.head(in: txn)
    }

    /// The head position as committed in `txn`'s snapshot.
    public func headPosition(in txn: borrowing Transaction) throws -> UInt64 {
        try storage.head(in: txn).position
    }
}
