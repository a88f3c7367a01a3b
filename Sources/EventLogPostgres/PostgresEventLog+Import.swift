import EventLog
import Foundation
import PostgresNIO
import Signatures

extension PostgresEventLog {
    /// Writes stored envelopes as they are (a restore from an export, of either backend): each
    /// must follow the head (next position, next stream version) and chain to the previous
    /// hash, or the import stops with an error naming the position and writes nothing. One
    /// transaction, under the head lock, so appends wait for it (``restoring(_:)`` puts several
    /// imports, claims and keys in one).
    ///
    /// `checkpoints` are the export's, already checked against its events and key: they are
    /// kept as they are (a head checkpoint only if it names the new head). A log that signs
    /// signs the new head instead.
    public func importStored(_ envelopes: [[UInt8]], checkpoints: [Checkpoint] = []) throws {
        try restoring { try $0.importStored(envelopes, checkpoints: checkpoints) }
    }
}

extension PostgresWriter {
    /// ``PostgresEventLog/importStored(_:checkpoints:)`` in the transaction open on `connection`,
    /// which holds the head lock; returns the head checkpoint written, if the log signs.
    /// `written` is the head checkpoint an earlier import wrote in the same transaction: a head
    /// it signed is this transaction's own, not yet committed, and is not remembered as seen.
    func importStored(
        _ envelopes: [[UInt8]], checkpoints: [Checkpoint], on connection: PostgresConnection, after written: [UInt8]?
    ) throws(EventLogError) -> [UInt8]? {
        let stored = try PostgresHead.lock(on: connection)
        var head = stored.head
        let start = head.position
        let signingKey = self.signingKey.withLock { $0 }
        if let signingKey, written == nil || stored.checkpoint != written {
            try checkHeadIsSigned(stored, key: signingKey)
        }
        var rows = EventRows()
        var versions: [UUID: UInt64] = [:]
        var scratch: [UInt8] = []
        for envelope in envelopes {
            let expected = head.position + 1
            let parsed = envelope.withUnsafeBytes { raw -> Result<ImportedEnvelope, EventLogError> in
                let view: EnvelopeView
                do { view = try Envelope.parse(raw) } catch {
                    return .failure(.corrupt(position: expected, detail: String(describing: error)))
                }
                guard view.position == expected else {
                    return .failure(.corrupt(position: view.position, detail: "expected position \(expected) next"))
                }
                guard head.hash.next(canonicalBytes: view.canonicalBytes, scratch: &scratch) == view.hash else {
                    return .failure(.corrupt(position: view.position, detail: "the hash chain breaks here"))
                }
                return .success(
                    ImportedEnvelope(
                        stream: view.streamID, version: view.streamVersion, hash: view.hash,
                        recordedAt: view.recordedAt))
            }
            let view = try parsed.get()
            let current: UInt64
            if let known = versions[view.stream] {
                current = known
            } else {
                current =
                    try connection.run(
                        """
                        SELECT stream_version FROM authlog.events WHERE stream_id = \(view.stream)
                        ORDER BY stream_version DESC LIMIT 1
                        """
                    ).first.map { row throws(EventLogError) in UInt64(try row.column(Int64.self)) } ?? 0
            }
            guard view.version == current + 1 else {
                throw .corrupt(position: expected, detail: "stream version \(view.version) after \(current)")
            }
            versions[view.stream] = view.version
            rows.positions.append(Int64(expected))
            rows.streams.append(view.stream)
            rows.versions.append(Int64(view.version))
            rows.envelopes.append(ByteBuffer(bytes: envelope))
            head = LogHead(position: expected, hash: view.hash, recordedAt: view.recordedAt)
        }
        var checkpoint: [UInt8]?
        var interval: Checkpoint?
        if let signingKey, head.position != start {
            (checkpoint, interval) = try sign(head, committedFrom: start, with: signingKey)
        }
        for kept in checkpoints {
            guard kept.position <= head.position, kept.role == .interval || kept.position == head.position else {
                throw .corrupt(position: kept.position, detail: "a checkpoint that does not name an imported event")
            }
        }
        if let imported = checkpoints.last(where: { $0.role == .head }), signingKey == nil {
            checkpoint = imported.encoded
        }
        let headPosition = Int64(head.position)
        let headHash = ByteBuffer(bytes: head.hash.bytes)
        let headTime = head.recordedAt.microsecondsSince1970
        let signed = checkpoint.map { ByteBuffer(bytes: $0) }
        _ = try connection.run(
            """
            WITH inserted AS (
                INSERT INTO authlog.events (position, stream_id, stream_version, envelope)
                SELECT * FROM unnest(\(rows.positions)::bigint[], \(rows.streams)::uuid[],
                                     \(rows.versions)::bigint[], \(rows.envelopes)::bytea[])
            )
            UPDATE authlog.head SET position = \(headPosition), hash = \(headHash), recorded_at = \(headTime),
                checkpoint = coalesce(\(signed)::bytea, checkpoint)
            WHERE id
            """)
        if let interval { try PostgresHead.keep(interval, on: connection) }
        for kept in checkpoints where kept.role == .interval { try PostgresHead.keep(kept, on: connection) }
        return signingKey != nil ? checkpoint : nil
    }
}

/// What an import needs of an envelope it checked.
private struct ImportedEnvelope {
    var stream: UUID
    var version: UInt64
    var hash: ChainHash
    var recordedAt: Timestamp
}
