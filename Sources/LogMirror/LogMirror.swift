import AuthDomain
import DataProtection
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import LMDB
import Logging
import Projections
import Synchronization

/// A node's local copy of a shared log (the log of a cluster, on PostgreSQL): the events with
/// their stored bytes, the claims of the streams they touch, and the users projection folded
/// from them, all in the node's own LMDB environment, kept by tailing the shared log.
///
/// Rules:
/// - Only the mirror writes the local log. Commands append to the shared log; the local copy
///   is a read model, rebuilt from the shared log if it is lost.
/// - A batch of events is copied in one local write transaction, with the projection folded
///   through its last event and the claims its streams hold in the shared log at the time of
///   the copy: a read sees a batch whole or not at all.
/// - Each batch must continue the local head: its first event at the next position, chained to
///   the local head's hash (the same check as an import). A batch that does not (the shared
///   log was replaced, or restored from a backup older than this copy) is never copied: the
///   mirror stops and says so (``Failure/diverged``), and the node's data directory must be
///   rebuilt from the shared log (`authctl rebuild --log-url`).
/// - Before a batch with a `UserErased` event is copied, the user's cached data key is
///   forgotten (``DataKeyStore/forget(_:)``): the erasing node destroys the shared key after
///   appending the event, and no node hands the key out again once it has seen the event.
/// - ``position`` only moves forward, and only after the batch's transaction committed.
/// - The copy may be opened with deferred sync (``LMDBEventLog/Options/deferredSync``): a write
///   then waits for the shared log's commit alone, not for the copy's too. ``follow()`` writes
///   the copy to disk once a poll interval; a system crash may undo the copy's last batches,
///   which are copied again from the shared log.
public final class LogMirror: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// The shared log's event at `position` does not continue this copy.
        case diverged(position: UInt64, detail: String)

        public var description: String {
            switch self {
            case .diverged(let position, let detail):
                return
                    "the shared log does not continue this node's copy at position \(position) (\(detail)); rebuild the data directory from the shared log"
            }
        }
    }

    /// Events copied per local transaction at most.
    public static let batchLimit = 4_096
    /// How often the shared log is checked when no notification arrives.
    public static let pollInterval = Duration.seconds(1)

    public let shared: any SharedEventLog
    public let local: LMDBEventLog
    public let projection: UserProjection
    let keys: any DataKeyStore
    let claimsTable: Database
    let logger: Logger
    private let copied = Atomic<UInt64>(0)
    /// Waits for a position, ended by ``advance(to:)``.
    let waiters: PositionWaiters
    /// Whether the copy's head was found in the shared log (once, before the first copy).
    private let checkedHead = Atomic<Bool>(false)
    private let failure = Mutex<Failure?>(nil)
    /// One copy at a time (``catchUp()`` may be called from several threads).
    private let copying = Mutex(())
    private let wakeUps: AsyncStream<Void>
    private let wakeUp: AsyncStream<Void>.Continuation

    /// Opens the mirror over `local` (the node's log, folded into `projection`). Nothing is
    /// copied yet: call ``catchUp()`` before serving, then run ``follow()``.
    public init(
        shared: any SharedEventLog, local: LMDBEventLog, projection: UserProjection, keys: any DataKeyStore,
        logger: Logger = Logger(label: "authlog.mirror")
    ) throws {
        self.shared = shared
        self.local = local
        self.projection = projection
        self.keys = keys
        self.logger = logger
        claimsTable = try local.withWriteTransaction { txn in
            try txn.openDatabase(Self.claimsDatabase, flags: .create)!
        }
        (wakeUps, wakeUp) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        let start = try projection.status()?.checkpoint ?? 0
        waiters = PositionWaiters(position: start)
        copied.store(start, ordering: .releasing)
    }

    /// The last position copied and folded into the projection.
    public var position: UInt64 { copied.load(ordering: .acquiring) }

    /// Why the mirror stopped copying, if it did.
    public var stopped: Failure? { failure.withLock { $0 } }

    /// The shared log must hold the copy's head event with the same stored bytes: a shared log
    /// that is shorter (emptied, or restored from a backup older than the copy) or holds
    /// another event there does not continue the copy, and the next copy would not notice.
    func checkSharedLogHoldsTheCopy() throws {
        let head = try local.headPosition()
        guard head > 0 else { return }
        let theirs = try shared.storedEnvelopes(from: head, limit: 1).first
        var ours: [UInt8]?
        try local.forEachStoredEnvelope(from: head, through: head) { _, stored in ours = Array(stored) }
        guard let theirs, theirs == ours else {
            throw stop(
                .diverged(
                    position: head,
                    detail: theirs == nil
                        ? "the shared log ends before this copy's head" : "the shared log holds another event there"))
        }
    }

    /// Records `failure`: the mirror copies nothing more. Returns it, for the caller to throw.
    func stop(_ failure: Failure) -> Failure {
        self.failure.withLock { if $0 == nil { $0 = failure } }
        // No copy will reach what they wait for: they answer now (see ``MirrorProgress``).
        waiters.endAll()
        return failure
    }

    /// Publishes a copied position.
    func advance(to position: UInt64) {
        copied.store(position, ordering: .releasing)
        waiters.advance(to: position)
    }

    /// Asks ``follow()`` to look at the shared log now (a write on this node just committed).
    public func wake() { wakeUp.yield(()) }

    /// Copies every event the shared log holds beyond the local head, a batch at a time;
    /// returns the position reached. Throws ``Failure/diverged`` (and stops the mirror for good)
    /// when a batch does not continue the local copy, or the shared log's error.
    @discardableResult
    public func catchUp() throws -> UInt64 {
        try copying.withLock { _ in
            if let stopped = failure.withLock({ $0 }) { throw stopped }
            if !checkedHead.load(ordering: .acquiring) {
                try checkSharedLogHoldsTheCopy()
                checkedHead.store(true, ordering: .releasing)
            }
            while true {
                let head = try local.headPosition()
                let batch = try shared.storedEnvelopes(from: head + 1, limit: Self.batchLimit)
                guard !batch.isEmpty else { break }
                try copy(batch, after: head)
                if batch.count < Self.batchLimit { break }
            }
            return position
        }
    }

    /// Copies whenever the shared log's head moves (its notifications), when ``wake()`` is
    /// called, and every ``pollInterval`` in any case, until the task is cancelled or the
    /// mirror stops. A failure to reach the shared log is logged and retried at the next wake.
    public func follow() async {
        let moves = shared.headMoves()
        let forward = Task { [wakeUp] in
            for await _ in moves { wakeUp.yield(()) }
        }
        let ticker = Task { [wakeUp, local] in
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.pollInterval)
                wakeUp.yield(())
                // A copy opened with deferred sync reaches the disk here, once a poll interval.
                _ = try? await Self.offThread { try local.sync() }
            }
        }
        defer {
            forward.cancel()
            ticker.cancel()
        }
        var lastError = ""
        for await _ in wakeUps {
            if Task.isCancelled { break }
            do {
                try await Self.offThread { try self.catchUp() }
                lastError = ""
            } catch let failure as Failure {
                logger.error("the node stopped following the shared log", metadata: ["reason": "\(failure)"])
                return
            } catch {
                let text = "\(error)"
                if text != lastError {
                    logger.warning("cannot read the shared log; retrying", metadata: ["error": "\(text)"])
                    lastError = text
                }
            }
        }
    }

    /// Runs blocking work (the shared log's reads, LMDB's commit) on a thread of its own
    /// rather than the concurrency pool's.
    static func offThread<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }
}
