import EventLog
import Foundation
import LMDB
import Signatures
import Synchronization

/// The open environment and its databases, shared by the log's readers and its writer thread.
final class LogStorage: Sendable {
    let environment: Environment
    let events: Database
    /// How a stream's events are found: `heads` and `links`, or a format-1 log's `streams`
    /// (read-only openings only).
    let index: StreamIndex
    let unique: Database
    let meta: Database
    let clock: @Sendable () -> Timestamp
    /// Signs the head at every commit (see ``Checkpoint``); `nil` writes no checkpoints.
    let signingKey = Mutex<Ed25519Key?>(nil)
    /// The stored bytes of the head checkpoint this process last wrote or verified.
    let knownCheckpoint = Mutex<[UInt8]?>(nil)
    let projector = Mutex<(any TransactionalProjector)?>(nil)

    init(
        environment: Environment, events: Database, index: StreamIndex, unique: Database, meta: Database,
        clock: @escaping @Sendable () -> Timestamp
    ) {
        self.environment = environment
        self.events = events
        self.index = index
        self.unique = unique
        self.meta = meta
        self.clock = clock
    }

    /// The head as recorded at the last commit.
    func head(in txn: borrowing Transaction) throws -> LogHead {
        guard let bytes = try LogLayout.headKey.withUnsafeBytes({ key in try txn.get(meta, key: key) }) else {
            return .empty
        }
        guard let head = LogHead(bytes) else {
            throw EventLogError.corrupt(position: 0, detail: "malformed head record")
        }
        return head
    }

    /// The position of the last event stored, 0 for none: equal to the head's, unless
    /// someone wrote past it behind the log's back.
    func lastStoredPosition(in txn: borrowing Transaction) throws -> UInt64 {
        try txn.withCursor(events) { cursor in try cursor.last().map { decodePosition($0.key) } ?? 0 }
    }

    /// The stream holding `key` in `scope`.
    func owner(of key: [UInt8], in scope: String, txn: borrowing Transaction) throws -> UUID? {
        try withUniqueKey(scope, key) { encoded in
            try txn.get(unique, key: encoded).map { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
        }
    }

    /// Parses the envelope stored at `key`, or names the position in a `corrupt` error.
    func envelope(_ stored: UnsafeRawBufferPointer, at position: UInt64) throws -> EnvelopeView {
        do {
            return try Envelope.parse(stored)
        } catch {
            throw EventLogError.corrupt(position: position, detail: error.description)
        }
    }
}

extension EventLogError {
    /// What an LMDB failure means to a caller of the log.
    init(_ error: LMDBError) {
        switch error.code {
        case LMDBError.noSpace.code, LMDBError.fileTooLarge.code, EDQUOT, LMDBError.mapFull.code:
            self = .storageFull(detail: error.description)
        default:
            self = .storage(detail: "\(error.description) (LMDB code \(error.code))")
        }
    }

    /// What an LMDB failure while writing a batch to the log in `directory` means: nothing of
    /// it was acknowledged.
    init(writing error: LMDBError, directory: String) {
        switch error.code {
        case EIO:
            // LMDB turns a short write (the disk filled up mid-write) into EIO: with (nearly)
            // no room left on the disk that holds the log, that is a full disk.
            // Root may write into the blocks reserved for it: its free space is f_bfree.
            var disk = statvfs()
            if statvfs(directory, &disk) == 0 {
                let blocks = UInt64(geteuid() == 0 ? disk.f_bfree : disk.f_bavail)
                let blockSize = max(UInt64(disk.f_frsize), 1)
                if blocks < (1 << 20) / blockSize {
                    let free = blocks * blockSize >> 10
                    self = .storageFull(
                        detail: "\(error.description): \(free) KiB free on the disk holding \(directory)")
                    return
                }
            }
            self = .writeFailed(detail: "\(error.description): a full disk or a failing device")
        default:
            let mapped = EventLogError(error)
            if case .storage(let detail) = mapped { self = .writeFailed(detail: detail) } else { self = mapped }
        }
    }
}
