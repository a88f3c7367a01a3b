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
        return try LogVerification.checking(
            key: key, since: since, recordedHead: recordedHead, lastStored: lastStored, headCheckpoint: headCheckpoint,
            intervals: intervals
        ) { visit in try verify(from: 1, through: nil, recordedHead: recordedHead, visit: visit) }
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
