import EventLog
import Foundation
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

    /// The stream's events from `version` on, oldest first, inside a transaction the caller
    /// holds, each handed to `body` until it returns false. Views are valid only during the
    /// call. Each event's stream and version are checked against the index that led to it.
    ///
    /// With `last` (a version of the stream and the position of that event), the walk down
    /// the stream's links starts there instead of at the stream's head, and ends with it: a
    /// reader that knows where its range ends walks the range only. On a log of format 2, a
    /// `last` that is not the stream's event at that version is refused as any other event
    /// the index misnames; format 1's index ignores its position and stops at its version.
    public func forEachEnvelope(
        inStream stream: UUID, from version: UInt64, through last: (version: UInt64, position: UInt64)? = nil,
        in txn: borrowing Transaction, _ body: (EnvelopeView) throws -> Bool
    ) throws {
        var expected = max(version, 1)
        let end = last.map { StreamHead(version: $0.version, position: $0.position) }
        for position in try storage.positions(inStream: stream, from: version, through: end, in: txn) {
            if let end, expected > end.version { return }  // format 1 lists the stream to its head
            guard let stored = try withPositionKey(position, { try txn.get(storage.events, key: $0) }) else {
                throw EventLogError.corrupt(position: position, detail: "stream index points to a missing event")
            }
            let view = try storage.envelope(stored, at: position)
            // The index is derived: an entry pointing at another stream's event is
            // refused, never folded into this one.
            guard view.streamID == stream, view.streamVersion == expected else {
                throw EventLogError.corrupt(
                    position: position, detail: "the stream index names this event for another stream or version")
            }
            guard try body(view) else { return }
            expected += 1
        }
    }

    /// The stream's version and the position of its last event as `txn` sees them, both 0
    /// when it has none.
    public func streamHead(of stream: UUID, in txn: borrowing Transaction) throws -> (
        version: UInt64, position: UInt64
    ) {
        let head = try storage.currentHead(of: stream, in: txn)
        return (head.version, head.position)
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
