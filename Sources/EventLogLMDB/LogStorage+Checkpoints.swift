import EventLog
import Foundation
import LMDB
import Signatures

extension LogStorage {
    /// The head checkpoint, if the log has one.
    func headCheckpoint(in txn: borrowing Transaction) throws -> Checkpoint? {
        let stored = try LogLayout.headCheckpointKey.withUnsafeBytes { key in
            try txn.get(meta, key: key).map { bytes in Checkpoint(encoded: bytes) }
        }
        guard let stored else { return nil }
        guard let checkpoint = stored, checkpoint.role == .head else {
            throw EventLogError.corrupt(position: 0, detail: "malformed head checkpoint record")
        }
        return checkpoint
    }

    /// Every interval checkpoint, in position order. A malformed one is returned as `nil`
    /// at the position its key names, for `verify` to report.
    func intervalCheckpoints(in txn: borrowing Transaction) throws -> [(UInt64, Checkpoint?)] {
        let prefix = LogLayout.intervalCheckpointPrefix
        return try txn.withCursor(meta) { cursor in
            var found: [(UInt64, Checkpoint?)] = []
            var entry = try prefix.withUnsafeBytes { try cursor.seek(atOrAfter: $0) }
            while let current = entry, current.key.starts(with: prefix) {
                guard current.key.count == prefix.count + 8 else {
                    // Not a record this log writes: reported, never skipped, so that it cannot
                    // hide the records after it.
                    found.append((0, nil))
                    entry = try cursor.next()
                    continue
                }
                let position = decodePosition(UnsafeRawBufferPointer(rebasing: current.key[prefix.count...]))
                let checkpoint = Checkpoint(encoded: current.value).flatMap { checkpoint in
                    checkpoint.role == .interval && checkpoint.position == position ? checkpoint : nil
                }
                found.append((position, checkpoint))
                entry = try cursor.next()
            }
            return found
        }
    }

    /// Checks, inside a writer's transaction, that `head` is the one the stored head checkpoint
    /// signed, so that a commit never signs over events another process wrote without the key
    /// since. A checkpoint this process wrote or checked last is recognised by its bytes; any
    /// other is verified under `key`.
    func checkHeadIsSigned(_ head: LogHead, key: Ed25519Key, in txn: borrowing Transaction) throws {
        let stored = try LogLayout.headCheckpointKey.withUnsafeBytes { key in
            try txn.get(meta, key: key).map { [UInt8]($0) }
        }
        guard let stored else {
            if head.position == 0 { return }
            throw EventLogError.checkpointRefused(
                "the log holds \(head.position) events but no head checkpoint: written without the signing key")
        }
        guard let checkpoint = stored.withUnsafeBytes({ Checkpoint(encoded: $0) }), checkpoint.role == .head,
            knownCheckpoint.withLock({ $0 == stored }) || checkpoint.isSigned(by: key)
        else {
            throw EventLogError.checkpointRefused("the head checkpoint is not signed by this log's key")
        }
        guard checkpoint.position == head.position, checkpoint.hash == head.hash else {
            throw EventLogError.checkpointRefused(
                "the head is at position \(head.position) but the signed head at \(checkpoint.position): written without the signing key"
            )
        }
        // The head's time is the earliest the next events may take: rewritten (to a far
        // future, say), every later event would carry it, signed.
        guard checkpoint.recordedAt == head.recordedAt else {
            throw EventLogError.headTimeRewritten
        }
        // A log never shrinks: an older signed head in place of the one this process last saw
        // means the log was cut back to it while this process ran.
        let seen = knownCheckpoint.withLock { $0 }.flatMap { bytes in bytes.withUnsafeBytes { Checkpoint(encoded: $0) }
        }
        if let seen, seen.position > checkpoint.position {
            throw EventLogError.checkpointRefused(
                "the log was cut back from position \(seen.position) to an older signed head at \(checkpoint.position)")
        }
        knownCheckpoint.withLock { $0 = stored }
    }

    /// Signs `head` as the log's head checkpoint, and keeps an interval checkpoint too when
    /// the commit from `start` crossed a multiple of ``Checkpoint/intervalSpacing``. Returns
    /// the stored head checkpoint, for the caller to remember (``knownCheckpoint``) once the
    /// transaction has committed, never before: a transaction that fails (a full map, say)
    /// leaves the old one in place.
    @discardableResult
    func sign(_ head: LogHead, committedFrom start: UInt64, with key: Ed25519Key, in txn: borrowing Transaction)
        throws -> [UInt8]
    {
        do {
            let checkpoint = try Checkpoint(
                role: .head, position: head.position, hash: head.hash, recordedAt: head.recordedAt, signingWith: key)
            let encoded = checkpoint.encoded
            try LogLayout.headCheckpointKey.withUnsafeBytes { key in
                try encoded.withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
            }
            if Checkpoint.crossesInterval(from: start, to: head.position) {
                let interval = try Checkpoint(
                    role: .interval, position: head.position, hash: head.hash, recordedAt: head.recordedAt,
                    signingWith: key)
                try withIntervalCheckpointKey(head.position) { key in
                    try interval.encoded.withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
                }
            }
            return encoded
        } catch let error as SignatureError {
            throw EventLogError.writeFailed(detail: "signing the checkpoint failed: \(error)")
        }
    }

    /// Stores a checkpoint made elsewhere (an imported one) as it is.
    func keep(_ checkpoint: Checkpoint, in txn: borrowing Transaction) throws {
        let encoded = checkpoint.encoded
        switch checkpoint.role {
        case .head:
            try LogLayout.headCheckpointKey.withUnsafeBytes { key in
                try encoded.withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
            }
        case .interval:
            try withIntervalCheckpointKey(checkpoint.position) { key in
                try encoded.withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
            }
        }
    }

    /// Checks, before a writer with the signing key starts, that every event it would sign
    /// over was signed before: the head checkpoint verifies under `key` and names the head.
    /// A log with events and no checkpoint at all (written before signing) is signed here
    /// only when `adoptUnsigned` says the operator checked it.
    func checkSignedHead(key: Ed25519Key, adoptUnsigned: Bool) throws {
        let txn = try environment.beginTransaction(readOnly: false)
        let head = try head(in: txn)
        if try lastStoredPosition(in: txn) > head.position {
            throw EventLogError.checkpointRefused(
                "events are stored past the head at position \(head.position): written without the signing key")
        }
        if try headCheckpoint(in: txn) == nil, try !intervalCheckpoints(in: txn).isEmpty {
            throw EventLogError.checkpointRefused(
                "the log has interval checkpoints but no head checkpoint: it was signed, and its head checkpoint was removed"
            )
        }
        guard let checkpoint = try headCheckpoint(in: txn) else {
            if head.position > 0 && !adoptUnsigned { throw EventLogError.unsignedLog(events: head.position) }
            // Adopted, the head's time is signed: it must be the last event's, as every commit
            // writes it (the events' time is in their hashes; the head record's is not).
            if head.position > 0 {
                let last = try withPositionKey(head.position) { key in
                    try txn.get(events, key: key).map { try envelope($0, at: head.position).recordedAt }
                }
                guard last == head.recordedAt else { throw EventLogError.headTimeRewritten }
            }
            let signed = head.position > 0 ? try sign(head, committedFrom: 0, with: key, in: txn) : nil
            try txn.commit()
            knownCheckpoint.withLock { $0 = signed }
            return
        }
        txn.abort()
        guard checkpoint.isSigned(by: key) else {
            throw EventLogError.checkpointRefused(
                "the head checkpoint at position \(checkpoint.position) is not signed by this key-encryption key's log key"
            )
        }
        if checkpoint.position < head.position {
            throw EventLogError.checkpointRefused(
                "positions \(checkpoint.position + 1) to \(head.position) follow the last signed checkpoint: they were written without the signing key"
            )
        }
        if checkpoint.position > head.position {
            throw EventLogError.checkpointRefused(
                "the log ends at position \(head.position) but a checkpoint signed position \(checkpoint.position): it was cut short"
            )
        }
        guard checkpoint.hash == head.hash else {
            throw EventLogError.checkpointRefused(
                "the head hash at position \(head.position) differs from the signed one: events were rewritten")
        }
        guard checkpoint.recordedAt == head.recordedAt else {
            throw EventLogError.headTimeRewritten
        }
        knownCheckpoint.withLock { $0 = checkpoint.encoded }
    }
}
