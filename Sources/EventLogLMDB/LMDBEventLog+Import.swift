import EventLog
import Foundation
import LMDB

extension LMDBEventLog {
    /// Writes stored envelopes as they are (a restore from an export): each must follow the
    /// head (next position, next stream version) and chain to the previous hash, or the import
    /// stops with an error naming the position. One write transaction for the batch.
    ///
    /// `checkpoints` are the export's, already checked against its events and key: they are
    /// kept as they are (a head checkpoint only if it names this batch's new head), so that
    /// an import exported again gives the same bytes. A log that signs (``startSigning(with:adoptUnsigned:)``)
    /// signs each batch's head instead.
    public func importStored(_ envelopes: [[UInt8]], checkpoints: [Checkpoint] = []) throws {
        try withWriteTransaction { txn in try importStored(envelopes, checkpoints: checkpoints, in: txn) }
    }

    /// ``importStored(_:checkpoints:)`` inside a write transaction the caller holds (a copy of
    /// a shared log writes its projections and claims in the same transaction).
    public func importStored(
        _ envelopes: [[UInt8]], checkpoints: [Checkpoint] = [], in txn: borrowing Transaction
    ) throws {
        var head = try storage.head(in: txn)
        let start = head.position
        var heads: [UUID: StreamHead] = [:]
        var scratch: [UInt8] = []
        for stored in envelopes {
            try stored.withUnsafeBytes { raw in
                let view = try storage.envelope(raw, at: head.position + 1)
                guard view.position == head.position + 1 else {
                    throw EventLogError.corrupt(
                        position: view.position, detail: "expected position \(head.position + 1) next")
                }
                let current = try heads[view.streamID] ?? storage.currentHead(of: view.streamID, in: txn)
                guard view.streamVersion == current.version + 1 else {
                    throw EventLogError.corrupt(
                        position: view.position, detail: "stream version \(view.streamVersion) after \(current.version)"
                    )
                }
                guard head.hash.next(canonicalBytes: view.canonicalBytes, scratch: &scratch) == view.hash else {
                    throw EventLogError.corrupt(position: view.position, detail: "the hash chain breaks here")
                }
                try withPositionKey(view.position) { key in
                    try txn.put(storage.events, key: key, value: raw, flags: .append)
                }
                try storage.link(view.position, after: current.position, in: txn)
                heads[view.streamID] = StreamHead(version: view.streamVersion, position: view.position)
                head = LogHead(position: view.position, hash: view.hash, recordedAt: view.recordedAt)
            }
        }
        for (stream, streamHead) in heads { try storage.writeHead(streamHead, of: stream, in: txn) }
        try head.withEncoded { value in
            try LogLayout.headKey.withUnsafeBytes { try txn.put(storage.meta, key: $0, value: value) }
        }
        if let key = storage.signingKey.withLock({ $0 }), head.position != start {
            try storage.sign(head, committedFrom: start, with: key, in: txn)
        }
        for checkpoint in checkpoints {
            guard checkpoint.position <= head.position,
                checkpoint.role == .interval || checkpoint.position == head.position
            else {
                throw EventLogError.corrupt(
                    position: checkpoint.position, detail: "a checkpoint that does not name an imported event")
            }
            try storage.keep(checkpoint, in: txn)
        }
    }

    /// The stream holding `key` in `scope`, as `txn` sees it.
    public func owner(of key: [UInt8], in scope: String, txn: borrowing Transaction) throws -> UUID? {
        try storage.owner(of: key, in: scope, txn: txn)
    }

    /// Gives up `key` in `scope` in a transaction the caller holds, whichever stream held it.
    public func releaseClaim(_ key: [UInt8], in scope: String, txn: borrowing Transaction) throws {
        try withUniqueKey(scope, key) { encoded in _ = try txn.delete(storage.unique, key: encoded) }
    }

    /// Takes `key` in `scope` for `stream` in a transaction the caller holds (rebuilding the
    /// uniqueness index after an import).
    public func claim(_ key: [UInt8], in scope: String, for stream: UUID, txn: borrowing Transaction) throws {
        try withUniqueKey(scope, key) { encoded in
            try withUnsafeBytes(of: stream.uuid) { try txn.put(storage.unique, key: encoded, value: $0) }
        }
    }

    /// The stored bytes of each event from `position` through `last`, in order.
    public func forEachStoredEnvelope(
        from position: UInt64, through last: UInt64, _ body: (UInt64, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        try forEachStored(from: position) { key, stored in
            guard key <= last else { return false }
            try body(key, stored)
            return true
        }
    }
}
