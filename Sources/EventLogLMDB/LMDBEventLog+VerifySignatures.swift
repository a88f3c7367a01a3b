import EventLog
import Foundation
import LMDB
import Signatures

extension LMDBEventLog {
    /// Verifies the whole log: the hash chain, then its signed checkpoints under `key` (see
    /// ``Checkpoint``), and, given `since`, that the log still extends that signed head.
    ///
    /// Without the key no one can add, change, drop, reorder or cut off an event of a signed
    /// log without this naming the first position it can prove bad: a changed event breaks the
    /// chain or disagrees with the first interval or head checkpoint after it; events after
    /// the head checkpoint were written without the key; a head checkpoint past the last event
    /// means the log was cut short. A log with no checkpoint at all is ``LogVerification/unsigned``.
    public func verifySignatures(key: Ed25519Key, since: Checkpoint? = nil) throws -> LogVerification {
        let (recordedHead, headCheckpoint, intervals) = try readTransaction { txn in
            (try storage.head(in: txn), try storage.headCheckpoint(in: txn), try storage.intervalCheckpoints(in: txn))
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
                // It was signed once: losing the head checkpoint is itself a tampering.
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
        try readTransaction { txn in try storage.headCheckpoint(in: txn) }
    }

    /// The interval checkpoints from `first` through `last`, in position order, unverified.
    public func intervalCheckpoints(from first: UInt64, through last: UInt64) throws -> [Checkpoint] {
        try readTransaction { txn in try storage.intervalCheckpoints(in: txn) }.compactMap { position, checkpoint in
            (first...max(first, last)).contains(position) ? checkpoint : nil
        }
    }
}
