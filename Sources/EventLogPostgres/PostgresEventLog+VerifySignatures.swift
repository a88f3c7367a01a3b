import EventLog
import Foundation
import PostgresNIO
import Signatures

extension PostgresEventLog {
    /// Verifies the whole log: the hash chain, then its signed checkpoints under `key` (see
    /// ``Checkpoint``), and, given `since`, that the log still extends that signed head. The
    /// same rules as the LMDB log's `verifySignatures`: a changed event breaks the chain or
    /// disagrees with the first checkpoint after it, events past the head checkpoint were
    /// written without the key, a head checkpoint past the last event means a cut-short log.
    public func verifySignatures(key: Ed25519Key, since: Checkpoint? = nil) throws -> LogVerification {
        let (stored, lastStored) = try headAndLastStored()
        let recordedHead = stored.head
        let headCheckpoint = try stored.headCheckpoint
        let intervals = try intervalCheckpoints()
        if lastStored > recordedHead.position {
            return .broken(
                ChainBreak(position: recordedHead.position + 1, reason: .pastHead(recordedHead: recordedHead.position)))
        }
        if let since {
            guard since.isSigned(by: key) else {
                return .broken(ChainBreak(position: since.position, reason: .signatureInvalid))
            }
            if since.position > recordedHead.position {
                return .broken(
                    ChainBreak(position: recordedHead.position + 1, reason: .cutShort(signedThrough: since.position)))
            }
        }
        var signed: [UInt64: Checkpoint] = [:]
        for (position, checkpoint) in intervals {
            guard let checkpoint, checkpoint.isSigned(by: key) else {
                return .broken(ChainBreak(position: position, reason: .signatureInvalid))
            }
            signed[position] = checkpoint
        }
        if let since { signed[since.position] = since }
        var lastGood: UInt64 = 0
        let chain = try verify(from: 1, through: nil, recordedHead: recordedHead) { position, hash in
            guard let checkpoint = signed[position] else { return nil }
            guard checkpoint.hash == hash else {
                return ChainBreak(position: lastGood + 1, reason: .signedHashMismatch(signedAt: position))
            }
            lastGood = position
            return nil
        }
        guard case .intact(let count, let through, let head) = chain else { return chain.asLogVerification }
        if let beyond = intervals.last?.0, beyond > through {
            return .broken(ChainBreak(position: through + 1, reason: .cutShort(signedThrough: beyond)))
        }
        guard let headCheckpoint else {
            if let lastInterval = intervals.last?.0 {
                return .broken(
                    ChainBreak(position: lastInterval + 1, reason: .unsignedTail(signedThrough: lastInterval)))
            }
            return .unsigned(count: count, through: through, head: head)
        }
        guard headCheckpoint.isSigned(by: key) else {
            return .broken(ChainBreak(position: headCheckpoint.position, reason: .signatureInvalid))
        }
        if headCheckpoint.position > through {
            return .broken(
                ChainBreak(position: through + 1, reason: .cutShort(signedThrough: headCheckpoint.position)))
        }
        if headCheckpoint.position < through {
            return .broken(
                ChainBreak(
                    position: headCheckpoint.position + 1,
                    reason: .unsignedTail(signedThrough: headCheckpoint.position)))
        }
        guard headCheckpoint.hash == head else {
            return .broken(ChainBreak(position: lastGood + 1, reason: .signedHashMismatch(signedAt: through)))
        }
        return .signed(count: count, head: headCheckpoint, intervals: intervals.count)
    }

    /// The head checkpoint as stored, unverified; `nil` for a log that has none.
    public func headCheckpoint() throws -> Checkpoint? {
        try readers.withConnection { connection throws(EventLogError) in try PostgresHead.read(on: connection) }
            .headCheckpoint
    }

    /// Every interval checkpoint in position order; a malformed one is `nil` at its position.
    func intervalCheckpoints() throws -> [(UInt64, Checkpoint?)] {
        try readers.withConnection { connection throws(EventLogError) in
            try connection.run("SELECT position, checkpoint FROM authlog.checkpoints ORDER BY position").map {
                row throws(EventLogError) in
                let (position, encoded) = try row.columns((Int64, ByteBuffer).self)
                let checkpoint = encoded.withUnsafeReadableBytes { Checkpoint(encoded: $0) }.flatMap {
                    $0.role == .interval && $0.position == UInt64(position) ? $0 : nil
                }
                return (UInt64(position), checkpoint)
            }
        }
    }
}

extension PostgresEventLog {
    /// The head's position and the head checkpoint, read together (one row), unverified: an
    /// export ends on the head its checkpoint signs.
    public func signedHead() throws -> (position: UInt64, checkpoint: Checkpoint?) {
        let stored = try readers.withConnection { connection throws(EventLogError) in
            try PostgresHead.read(on: connection)
        }
        return (stored.head.position, try stored.headCheckpoint)
    }

    /// The interval checkpoints from `first` through `last`, in position order, unverified
    /// (a malformed one is left out; `verifySignatures` names it).
    public func intervalCheckpoints(from first: UInt64, through last: UInt64) throws -> [Checkpoint] {
        try intervalCheckpoints().compactMap { position, checkpoint in
            (first...max(first, last)).contains(position) ? checkpoint : nil
        }
    }
}
