import EventLog
import Foundation
import LMDB
import Signatures

/// The event log on one LMDB environment: the embedded default backend.
///
/// Appends go to one writer thread that commits whatever has queued up in one synced
/// transaction (group commit). Reads run on the caller's thread in their own short read
/// transactions, so they never wait for the writer, and another process (authctl) can read
/// the same directory while this one writes.
///
/// Open one instance per directory per process, and ``close()`` it when done.
public final class LMDBEventLog: EventLog {
    public struct Options: Sendable {
        /// Open for reading only: appends fail with ``EventLogError/readOnly``.
        public var readOnly: Bool
        /// The map starts this size and doubles (then grows by 1 GiB steps) when full.
        public var initialMapSize: Int
        /// A commit takes queued appends until it holds about this many events.
        public var maximumBatchEvents: Int
        /// Where recorded-at times come from. The log never lets them go backwards.
        public var clock: @Sendable () -> Timestamp
        /// Commits do not wait for the disk; ``sync()`` does. Only for a copy that can be made
        /// again from elsewhere (a cluster node's copy of the shared log): a system crash may
        /// undo its last commits. Never for a log that is the record.
        public var deferredSync: Bool
        /// Commits write in the map (``Environment/Options/writableMap``): with
        /// ``deferredSync``, for a copy. Every process that writes the directory must open it
        /// with the same value: a log marked as a copy (made with it, or
        /// ``LMDBEventLog/markWrittenInMap()``) is refused at open to a writer without it
        /// (``EventLogError/writtenInMap(path:)``).
        public var writableMap: Bool

        public init(
            readOnly: Bool = false, initialMapSize: Int = 16 << 20, maximumBatchEvents: Int = 8_192,
            clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() }, deferredSync: Bool = false,
            writableMap: Bool = false
        ) {
            self.readOnly = readOnly
            self.initialMapSize = initialMapSize
            self.maximumBatchEvents = maximumBatchEvents
            self.clock = clock
            self.deferredSync = deferredSync
            self.writableMap = writableMap
        }
    }

    let storage: LogStorage
    let writer: GroupCommitWriter<PendingAppend>?
    public let directory: String
    /// Opened to write, with ``Options/writableMap``.
    let writesInMap: Bool

    /// Opens the log in `directory`, creating the directory and an empty log if there is none
    /// (unless read-only). A log of format 1 is read as it is when opened read-only and moved to
    /// format 2 by a writer (``LogLayout``). Fails with a clear ``EventLogError`` on anything
    /// that is not a log of either format.
    public init(directory: String, options: Options = Options()) throws {
        self.directory = directory
        writesInMap = options.writableMap && !options.readOnly
        storage = try LogStorage.open(directory: directory, options: options)
        if options.readOnly {
            writer = nil
        } else {
            let storage = self.storage
            writer = GroupCommitWriter(
                name: "log-writer", maximumBatchWeight: options.maximumBatchEvents,
                weight: { $0.eventCount }, commit: { storage.commit($0) })
        }
    }

    deinit {
        close()
    }

    /// Lets queued appends finish, stops the writer, writes what commits left in the
    /// system's buffers to disk and closes the environment.
    public func close() {
        writer?.stop()
        storage.projector.withLock { $0 = nil }
        if writer != nil { try? storage.environment.sync() }
        storage.environment.close()
    }

    /// Writes what commits left in the system's buffers to disk: what a log opened with
    /// ``Options/deferredSync`` calls now and then (a log without it is on disk at each commit).
    public func sync() throws {
        do { try storage.environment.sync() } catch { throw EventLogError.storage(detail: "\(error)") }
    }

    /// From now on every commit signs its head with `key` (see ``Checkpoint``). First checks
    /// that everything already in the log was signed by `key`: the head checkpoint verifies
    /// and names the head. A log with events but no checkpoint at all (written before signing)
    /// is refused with ``EventLogError/unsignedLog(events:)`` unless `adoptUnsigned`, which
    /// signs its head now: for an operator who has checked that log.
    ///
    /// Call it before the first append; every writer of a signed log must.
    public func startSigning(with key: Ed25519Key, adoptUnsigned: Bool = false) throws {
        guard writer != nil else { throw EventLogError.readOnly }
        try storage.checkSignedHead(key: key, adoptUnsigned: adoptUnsigned)
        storage.signingKey.withLock { $0 = key }
    }

    /// Batches committed by the writer so far, with the appends and events they carried.
    public var groupCommitStatistics: GroupCommitStatistics { writer?.statistics ?? GroupCommitStatistics() }

    /// Whether appends are refused (opened with `readOnly`).
    public var isReadOnly: Bool { writer == nil }

    /// Runs `body` in a write transaction of its own and commits it, growing the map and
    /// running `body` again on `MDB_MAP_FULL`, like the log's own writer does. For
    /// maintenance beside the log (projection builds, imports); `body` may run more than once.
    /// A failed write is thrown as the log's writers throw it (``EventLogError/storageFull(detail:)``
    /// for a full disk, ``EventLogError/writeFailed(detail:)`` otherwise), never as a raw LMDB code.
    public func withWriteTransaction<Result>(_ body: (borrowing Transaction) throws -> Result) throws -> Result {
        for _ in 0..<48 {
            do {
                let txn = try storage.environment.beginTransaction(readOnly: false)
                let result = try body(txn)
                try txn.commit()
                return result
            } catch let error as LMDBError where error == .mapFull {
                do { try storage.growMap() } catch {
                    throw EventLogError(writing: error, directory: storage.environment.path)
                }
            } catch let error as LMDBError {
                throw EventLogError(writing: error, directory: storage.environment.path)
            }
        }
        throw EventLogError.storageFull(detail: "the map could not grow enough for this transaction")
    }

    /// The LMDB environment, for callers that keep their own databases in it.
    public var environment: Environment { storage.environment }

    public func append(_ requests: [AppendRequest]) async throws -> [Result<AppendResult, EventLogError>] {
        guard let writer else { throw EventLogError.readOnly }
        if requests.isEmpty { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            let job = PendingAppend(requests: requests, continuation: continuation)
            if !writer.submit(job) { continuation.resume(throwing: EventLogError.closed) }
        }
    }
}

/// Appends waiting for the writer, with the continuation that receives their outcomes.
struct PendingAppend: Sendable {
    let requests: [AppendRequest]
    let continuation: CheckedContinuation<[Result<AppendResult, EventLogError>], any Error>

    var eventCount: Int { requests.reduce(0) { $0 + $1.events.count } }
}
