import EventLog
import PostgresNIO
import Signatures

extension PostgresWriter {
    /// Checks that the log's head is the one its head checkpoint signed under `key` (see
    /// ``PostgresEventLog/startSigning(with:adoptUnsigned:)``), signing an unsigned log's head
    /// only when `adoptUnsigned`; then signs every later commit.
    func startSigning(with key: Ed25519Key, adoptUnsigned: Bool) throws(EventLogError) {
        let connection = try server.connect()
        defer { _ = try? connection.close().wait() }
        _ = try connection.run("BEGIN")
        do throws(EventLogError) {
            let stored = try PostgresHead.lock(on: connection)
            let head = stored.head
            let lastStored =
                try connection.run("SELECT coalesce(max(position), 0) FROM authlog.events").first?
                .column(Int64.self) ?? 0
            if UInt64(lastStored) > head.position {
                throw .checkpointRefused(
                    "events are stored past the head at position \(head.position): written without the signing key")
            }
            guard let checkpoint = try stored.headCheckpoint else {
                let intervals =
                    try connection.run("SELECT count(*) FROM authlog.checkpoints").first?.column(Int64.self) ?? 0
                if intervals > 0 {
                    throw .checkpointRefused(
                        "the log has interval checkpoints but no head checkpoint: it was signed, and its head checkpoint was removed"
                    )
                }
                if head.position > 0 && !adoptUnsigned { throw .unsignedLog(events: head.position) }
                // Adopted, the head's time is signed: it must be the last event's, as every
                // commit writes it (the events' time is in their hashes; the head row's is not).
                if head.position > 0 {
                    let stored =
                        try connection.run(
                            "SELECT envelope FROM authlog.events WHERE position = \(Int64(head.position))"
                        ).first?.column(ByteBuffer.self)
                    let last = stored?.withUnsafeReadableBytes { try? Envelope.parse($0).recordedAt }
                    guard last == head.recordedAt else { throw .headTimeRewritten }
                }
                var signed: [UInt8]?
                if head.position > 0 {
                    let (encoded, interval) = try sign(head, committedFrom: 0, with: key)
                    let bytes = ByteBuffer(bytes: encoded)
                    _ = try connection.run("UPDATE authlog.head SET checkpoint = \(bytes) WHERE id")
                    if let interval { try PostgresHead.keep(interval, on: connection) }
                    signed = encoded
                }
                _ = try connection.run("COMMIT")
                knownCheckpoint.withLock { $0 = signed }
                signingKey.withLock { $0 = key }
                return
            }
            _ = try connection.run("ROLLBACK")
            guard checkpoint.isSigned(by: key) else {
                throw .checkpointRefused(
                    "the head checkpoint at position \(checkpoint.position) is not signed by this log's key")
            }
            if checkpoint.position < head.position {
                throw .checkpointRefused(
                    "positions \(checkpoint.position + 1) to \(head.position) follow the last signed checkpoint: they were written without the signing key"
                )
            }
            if checkpoint.position > head.position {
                throw .checkpointRefused(
                    "the log ends at position \(head.position) but a checkpoint signed position \(checkpoint.position): it was cut short"
                )
            }
            guard checkpoint.hash == head.hash else {
                throw .checkpointRefused(
                    "the head hash at position \(head.position) differs from the signed one: events were rewritten")
            }
            guard checkpoint.recordedAt == head.recordedAt else { throw .headTimeRewritten }
            knownCheckpoint.withLock { $0 = checkpoint.encoded }
            signingKey.withLock { $0 = key }
        } catch {
            _ = try? connection.run("ROLLBACK")
            throw error
        }
    }

    /// The head checkpoint this process signed or checked last, decoded.
    var seenCheckpoint: Checkpoint? {
        knownCheckpoint.withLock { $0 }.flatMap { bytes in bytes.withUnsafeBytes { Checkpoint(encoded: $0) } }
    }

    /// Checks, under the head lock, that the head is the one the stored head checkpoint
    /// signed, so a commit never signs over events another process wrote without the key.
    /// A checkpoint this process wrote or checked last is recognised by its bytes; any other
    /// is verified under `key`.
    ///
    /// A log behind a head this process saw was cut back; `stillHolding` (a head seen, and
    /// the chain hash the log holds at its position, `nil` for none) also catches a log
    /// replaced behind the process and written past that position since (restored from an
    /// older backup, then written by a process that saw nothing before).
    func checkHeadIsSigned(
        _ stored: PostgresHead, key: Ed25519Key, stillHolding: (seen: Checkpoint, hash: ChainHash?)? = nil
    ) throws(EventLogError) {
        let head = stored.head
        guard let bytes = stored.checkpoint else {
            if head.position == 0 {
                // Emptied behind a process that saw it hold events: a cut back to nothing.
                if let seen = seenCheckpoint, seen.position > 0 {
                    throw .checkpointRefused(
                        "the log was emptied behind this process, which saw it at position \(seen.position)")
                }
                return
            }
            throw .checkpointRefused(
                "the log holds \(head.position) events but no head checkpoint: written without the signing key")
        }
        guard let checkpoint = bytes.withUnsafeBytes({ Checkpoint(encoded: $0) }), checkpoint.role == .head,
            knownCheckpoint.withLock({ $0 == bytes }) || checkpoint.isSigned(by: key)
        else {
            throw .checkpointRefused("the head checkpoint is not signed by this log's key")
        }
        guard checkpoint.position == head.position, checkpoint.hash == head.hash else {
            throw .checkpointRefused(
                "the head is at position \(head.position) but the signed head at \(checkpoint.position): written without the signing key"
            )
        }
        // The head's time is the earliest the next events may take: rewritten (to a far
        // future, say), every later event would carry it, signed.
        guard checkpoint.recordedAt == head.recordedAt else { throw .headTimeRewritten }
        let seen = seenCheckpoint
        if let seen, seen.position > checkpoint.position {
            throw .checkpointRefused(
                "the log was cut back from position \(seen.position) to an older signed head at \(checkpoint.position)")
        }
        if let (earlier, hash) = stillHolding, earlier.position <= checkpoint.position, hash != earlier.hash {
            throw .checkpointRefused(
                "the log no longer holds the head this process saw at position \(earlier.position): it was replaced and written again"
            )
        }
        knownCheckpoint.withLock { $0 = bytes }
    }

    /// The signed head checkpoint for `head` (its stored bytes), and an interval checkpoint
    /// when the commit from `start` crossed a multiple of ``Checkpoint/intervalSpacing``.
    func sign(_ head: LogHead, committedFrom start: UInt64, with key: Ed25519Key) throws(EventLogError) -> (
        [UInt8], Checkpoint?
    ) {
        do {
            let checkpoint = try Checkpoint(
                role: .head, position: head.position, hash: head.hash, recordedAt: head.recordedAt, signingWith: key)
            var interval: Checkpoint?
            if Checkpoint.crossesInterval(from: start, to: head.position) {
                interval = try Checkpoint(
                    role: .interval, position: head.position, hash: head.hash, recordedAt: head.recordedAt,
                    signingWith: key)
            }
            return (checkpoint.encoded, interval)
        } catch {
            throw .writeFailed(detail: "signing the checkpoint failed: \(error)")
        }
    }
}
