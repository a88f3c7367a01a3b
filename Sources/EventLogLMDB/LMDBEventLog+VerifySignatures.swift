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
        let (recordedHead, lastStored, headCheckpoint, intervals) = try readTransaction { txn in
            (
                try storage.head(in: txn), try storage.lastStoredPosition(in: txn), try storage.headCheckpoint(in: txn),
                try storage.intervalCheckpoints(in: txn)
            )
        }
        return try LogVerification.checking(
            key: key, since: since, recordedHead: recordedHead, lastStored: lastStored, headCheckpoint: headCheckpoint,
            intervals: intervals
        ) { visit in try verify(from: 1, through: nil, recordedHead: recordedHead, visit: visit) }
    }

    /// The head's position and the head checkpoint, read together, unverified.
    public func signedHead() throws -> (position: UInt64, checkpoint: Checkpoint?) {
        try readTransaction { txn in (try storage.head(in: txn).position, try storage.headCheckpoint(in: txn)) }
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
