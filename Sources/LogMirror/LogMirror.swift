import AuthDomain
import DataProtection
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import LMDB
import Logging
import Projections
import Signatures
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
/// - Each fetch from the shared log starts at the copy's head event, which must come back with
///   the same stored bytes, and the batch after it must continue the head: next position,
///   chained to the head's hash (the same check as an import). A shared log that does not
///   continue the copy (replaced, or restored from a backup older than the copy) is found at
///   the next fetch: at once when a write on this node or a notification or a wait naming a
///   position beyond the copy comes, within ``pollInterval`` otherwise. What the mirror then
///   does is its ``Divergence`` rule.
/// - This node's own commits, handed over by its writer (``SharedEventLog/whenCommitted(_:)``),
///   are copied without a fetch when they continue the copy, with the same checks; one that
///   does not, or that differs from what the copy holds at its positions, makes the look
///   fetch (see ``Due``).
/// - A copy made again (``Divergence/copyAgain``), and an empty copy's first copy when the
///   mirror has the log's key, is written in one local transaction: the old copy goes, and
///   the shared log's events through the position its signed head names come, with their
///   claims and the projection folded through them, only if they end on the hash that head
///   signs. Readers see the old copy until it commits, then the new one. Meanwhile
///   ``position`` is 0: a wait for a position (a read with `Authlog-Min-Position`, a write's
///   own) waits for the new copy, and ``MirroredUserStates`` reads users from the shared log
///   alone. Events appended after that head are copied as usual, unsigned until the next
///   commit signs them: a copy is as sure as the shared log's signed heads, no more.
/// - Before a batch with a `UserErased` event is copied, the user's cached data key is
///   forgotten (``DataKeyStore/forget(_:)``): the erasing node destroys the shared key after
///   appending the event, and no node hands the key out again once it has seen the event.
/// - ``position`` moves forward only after the batch's transaction committed, and back to 0
///   only while the copy is made again.
/// - A copy is opened with ``copyOptions(initialMapSize:)`` by every process: deferred sync
///   (``LMDBEventLog/Options/deferredSync``), so a write waits for the shared log's commit
///   alone, not for the copy's too, and its pages written in the map. ``follow()`` writes the
///   copy to disk once a poll interval; a system crash may undo the copy's last batches, which
///   are copied again from the shared log.
public final class LogMirror: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// The shared log's event at `position` does not continue this copy: the copy's head
        /// is not the shared log's.
        case diverged(position: UInt64, detail: String)
        /// The shared log itself is broken at `position`: its event there does not follow the
        /// one before (or came at another position). Nothing from there on is copied.
        case broken(position: UInt64, detail: String)
        /// The shared log's history is not the one its signed head names (``LogMirror/init``'s
        /// key): a copy is not made from it.
        case unsigned(detail: String)

        public var description: String {
            switch self {
            case .diverged(let position, let detail):
                return "the shared log does not continue this node's copy at position \(position) (\(detail))"
            case .broken(let position, let detail):
                return
                    "the shared log is broken at position \(position) (\(detail)); nothing from there on is copied: check it with `authctl verify --log-url`"
            case .unsigned(let detail):
                return "the shared log's history is not signed by its key (\(detail)); it is not copied"
            }
        }
    }

    /// What the mirror does when the shared log does not continue its copy.
    public enum Divergence: Sendable {
        /// ``catchUp()`` throws ``Failure/diverged`` and the mirror copies nothing more (a
        /// command-line reader, which says so and leaves the copy for `authctl rebuild`).
        case stop
        /// The copy is written aside, into a new `diverged-TIME` directory (0700) beside it in
        /// the data directory, for whoever wants to look at what it held, and made again from
        /// the shared log while the node goes on serving (a node of a cluster). Failing to write
        /// it aside (a full disk) is logged and does not stop the copy being made again.
        case copyAgain
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
    let divergence: Divergence
    /// The log's key: a copy made again must end on a head it signed (`nil`: not checked).
    let logKey: Ed25519Key?
    /// How long after a failed making-again the next may begin; doubled after each failure in
    /// a row, up to 5 minutes.
    let firstRetry: Duration
    /// When a failed making-again may be tried again, and how many failed in a row.
    let retry = Mutex<(failures: Int, notBefore: ContinuousClock.Instant, error: (any Error)?)>(
        (0, .now, nil))
    /// Set from the moment the shared log is found not to continue the copy (with
    /// ``Divergence/copyAgain``) until the copy made again commits.
    let copyingAgain = Atomic<Bool>(false)
    let copiesMadeAgain = Atomic<Int>(0)
    private let sharedReads = Atomic<Int>(0)
    private let failure = Mutex<Failure?>(nil)
    /// One copy at a time (``catchUp()`` may be called from several threads).
    private let copying = Mutex(())
    /// What wakes ``follow()``'s thread.
    let wakeUps = WakeSignal()
    /// What the next look of ``follow()``'s thread is for (see ``Due``).
    let due = Mutex(Due())

    /// How every process opens a copy (see the rules above): commits that do not wait for
    /// the disk, their pages written in the map (``LMDBEventLog/Options/writableMap``).
    public static func copyOptions(initialMapSize: Int = 16 << 20) -> LMDBEventLog.Options {
        LMDBEventLog.Options(initialMapSize: initialMapSize, deferredSync: true, writableMap: true)
    }

    /// Opens the mirror over `local` (the node's log, folded into `projection`). Nothing is
    /// copied yet: call ``catchUp()`` before serving, then run ``follow()``.
    public init(
        shared: any SharedEventLog, local: LMDBEventLog, projection: UserProjection, keys: any DataKeyStore,
        divergence: Divergence = .stop, logKey: Ed25519Key? = nil, firstRetry: Duration = .seconds(5),
        logger: Logger = Logger(label: "authlog.mirror")
    ) throws {
        self.shared = shared
        self.firstRetry = firstRetry
        self.divergence = divergence
        self.logKey = logKey
        self.local = local
        self.projection = projection
        self.keys = keys
        self.logger = logger
        claimsTable = try local.withWriteTransaction { txn in
            try txn.openDatabase(Self.claimsDatabase, flags: .create)!
        }
        let start = try projection.status()?.checkpoint ?? 0
        waiters = PositionWaiters(position: start)
        copied.store(start, ordering: .releasing)
    }

    /// The last position copied and folded into the projection.
    public var position: UInt64 { copied.load(ordering: .acquiring) }

    /// Why the mirror stopped copying, if it did.
    public var stopped: Failure? { failure.withLock { $0 } }

    /// Whether the copy is being made again (see ``Divergence/copyAgain``): its rows may hold
    /// states the shared log does not.
    public var isCopyingAgain: Bool { copyingAgain.load(ordering: .acquiring) }

    /// How many times this mirror made its copy again.
    public var timesCopiedAgain: Int { copiesMadeAgain.load(ordering: .relaxed) }

    /// How many looks read the shared log for new events (a look that copied this node's own
    /// commits alone does not).
    public var timesReadShared: Int { sharedReads.load(ordering: .relaxed) }

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

    /// Asks ``follow()`` to look at the shared log now.
    public func wake() {
        due.withLock { $0.mustRead = true }
        wakeUps.signal()
    }

    /// Asks ``follow()`` to bring the copy to `position` now (a write on this node committed
    /// it, or a read waits for it): from this node's own commits if they reach it, otherwise
    /// from the shared log.
    public func wake(toward position: UInt64) {
        due.withLock { due in
            // A commit of this node's own through there is on its way (see ``Due``).
            if position > due.ownCommitThrough { due.target = max(due.target, position) }
        }
        wakeUps.signal()
    }

    /// Copies every event the shared log holds beyond the local head, a batch at a time;
    /// returns the position reached. When the shared log does not continue the copy: with
    /// ``Divergence/stop`` throws ``Failure/diverged`` (and stops the mirror for good); with
    /// ``Divergence/copyAgain`` makes the copy again. A shared log broken after the copy's
    /// head (``Failure/broken``) is never a reason to make the copy again (it would meet the
    /// same event): ``Divergence/stop`` stops, ``Divergence/copyAgain`` throws it and looks
    /// again at the next call, from the copy's head. Throws the shared log's errors and the
    /// copy's. A making-again that fails is tried again at a later call, `firstRetry` (5 s)
    /// after the first failure, doubling up to 5 minutes; calls before then throw its error
    /// at once, without reading the shared log.
    @discardableResult
    public func catchUp() throws -> UInt64 {
        let reached = try catchUp(offered: [], reading: { _ in true })
        // The shared log continues the copy: the directory holds this node's copy, and only
        // writers with the map may write it (a copy from before the mark is marked here).
        if !isCopyingAgain { try local.markWrittenInMap() }
        return reached
    }

    /// ``catchUp()``, first copying the batches of `offered` (this node's own commits) that
    /// continue the copy's head; the shared log is read only if `reading` says so of the
    /// position then reached, or an offered batch could not be copied.
    func catchUp(offered: [CommittedBatch], reading: (UInt64) -> Bool) throws -> UInt64 {
        try copying.withLock { _ in
            if let stopped = failure.withLock({ $0 }) { throw stopped }
            if !isCopyingAgain {
                do {
                    let complete = copyOffered(offered)
                    if !complete || reading(position) { try copyNewEvents() }
                    return position
                } catch let failure as Failure {
                    guard case .diverged = failure, divergence == .copyAgain else {
                        throw divergence == .stop ? stop(failure) : failure
                    }
                    beginCopyingAgain(because: failure)
                }
            }
            try copyAgainWhenDue()
            return position
        }
    }

    /// Copies each batch of `offered` that continues the local head, in position order, as a
    /// batch read from the shared log is copied (the same checks: the next position, chained
    /// to the head's hash, which proves the shared log holds the copy's history). Returns
    /// `false` if one could not be copied (a gap before it: other nodes' commits, or a failed
    /// check) or one the copy holds already differs from it (the shared log was restored
    /// behind the copy): the shared log must then be read, and tells why.
    private func copyOffered(_ offered: [CommittedBatch]) -> Bool {
        if offered.isEmpty { return true }
        guard logKey == nil || position > 0 else { return false }  // an empty copy starts from the signed head
        // Batches that follow one another are copied in one local transaction.
        var merged: [CommittedBatch] = []
        for batch in offered.sorted(by: { $0.first < $1.first }) {
            if let last = merged.last, last.last + 1 == batch.first,
                last.stored.count + batch.stored.count <= Self.batchLimit
            {
                merged[merged.count - 1].stored += batch.stored
            } else {
                merged.append(batch)
            }
        }
        for batch in merged {
            do {
                let head = try local.headPosition()
                if batch.first <= head {
                    // Copied already, if the copy holds the same last event (its chain hash
                    // covers all before it); otherwise the shared log no longer continues the
                    // copy (restored behind it), and a read finds out.
                    guard batch.last <= head else { return false }
                    var ours: [UInt8]?
                    try local.forEachStoredEnvelope(from: batch.last, through: batch.last) { _, stored in
                        ours = Array(stored)
                    }
                    guard ours == batch.stored.last else { return false }
                    continue
                }
                guard batch.first == head + 1 else { return false }
                try copy(batch.stored, after: head)
            } catch {
                return false
            }
        }
        return true
    }

    /// Copies the batches after the local head, each fetched with the head event itself, which
    /// must be the shared log's too.
    private func copyNewEvents() throws {
        // An empty copy (a new node, a directory emptied) starts from the signed head, as a
        // copy made again does.
        sharedReads.add(1, ordering: .relaxed)
        if logKey != nil, try local.headPosition() == 0 { try copyAgain(first: true) }
        while true {
            let head = try local.headPosition()
            let fetched = try fromShared {
                try shared.storedEnvelopes(
                    from: max(head, 1), limit: head > 0 ? Self.batchLimit + 1 : Self.batchLimit)
            }
            var batch = fetched[...]
            if head > 0 {
                var ours: [UInt8]?
                try local.forEachStoredEnvelope(from: head, through: head) { _, stored in ours = Array(stored) }
                guard let theirs = fetched.first, theirs == ours else {
                    throw Failure.diverged(
                        position: head,
                        detail: fetched.isEmpty
                            ? "the shared log ends before this copy's head" : "the shared log holds another event there"
                    )
                }
                batch = fetched.dropFirst()
            }
            guard !batch.isEmpty else { return }
            try copy(Array(batch), after: head)
            if batch.count < Self.batchLimit { return }
        }
    }

    /// From here until the copy made again commits, waits for positions wait for it.
    private func beginCopyingAgain(because diverged: Failure) {
        copyingAgain.store(true, ordering: .releasing)
        copied.store(0, ordering: .releasing)
        waiters.moveBack(to: 0)
        var metadata: Logger.Metadata = ["reason": "\(diverged)"]
        do {
            metadata["copied_aside_to"] = "\(try Self.writeCopyAside(of: local))"
        } catch {
            metadata["not_copied_aside"] = "\(error)"
        }
        logger.error("the shared log does not continue this node's copy; making the copy again", metadata: metadata)
    }
}
