import Dispatch
import EventLog
import Foundation
import PostgresNIO
import Signatures
import Synchronization

/// The log's one writer: a thread that takes every append queued since its last commit and
/// writes them in one transaction (group commit), so one flush acknowledges many appends.
/// While a commit is being flushed, the next batch is opened on a second connection and
/// waits for the head lock (see `run`).
///
/// The connections belong to the thread; a failed batch closes its connection and the next
/// batch on that slot opens another.
final class PostgresWriter: Sendable {
    /// Appends from one ``PostgresEventLog/append(_:)`` call, with the continuation that
    /// receives their outcomes.
    struct Job: Sendable {
        let requests: [AppendRequest]
        let continuation: CheckedContinuation<[Result<AppendResult, EventLogError>], any Error>

        var eventCount: Int { requests.reduce(0) { $0 + $1.events.count } }
    }

    let server: PostgresServer
    let clock: @Sendable () -> Timestamp
    /// Signs the head at every commit (see ``Checkpoint``); `nil` writes no checkpoints.
    let signingKey = Mutex<Ed25519Key?>(nil)
    /// Stream versions known without asking the server (see ``KnownVersions``); writer thread only.
    let knownVersions = Mutex(KnownVersions())
    /// Told of each batch's commit (``PostgresEventLog/whenCommitted(_:)``).
    let news = Mutex<NewsHandler?>(nil)
    /// The stored bytes of the head checkpoint this process last wrote or verified.
    let knownCheckpoint = Mutex<[UInt8]?>(nil)
    /// The writer thread's two connections (two batches overlap, one on each); touched by that
    /// thread only (and by `stop` after it ended).
    let connections = Mutex<[PostgresConnection?]>([nil, nil])
    private let queue: WriterQueue<Job, PostgresGroupCommitStatistics>

    init(server: PostgresServer, maximumBatchEvents: Int, clock: @escaping @Sendable () -> Timestamp) {
        self.server = server
        self.clock = clock
        queue = WriterQueue(
            maximumBatchWeight: maximumBatchEvents, weight: { $0.eventCount },
            statistics: PostgresGroupCommitStatistics(),
            record: { statistics, jobs, events in
                statistics.batches += 1
                statistics.appends += UInt64(jobs)
                statistics.events += UInt64(events)
            })
        let thread = Thread { [self] in
            nameCurrentThread("pg-log-writer")
            run()
        }
        thread.start()
    }

    /// The handler of ``PostgresEventLog/whenCommitted(_:)``, boxed. Rule: keep no closure in
    /// a `Mutex` as it is: every `withLock` wraps it in two more reabstraction thunks and
    /// stores them back, so each call would go two frames deeper a read, without end.
    final class NewsHandler: Sendable {
        let tell: @Sendable (CommitNews) -> Void
        init(_ tell: @escaping @Sendable (CommitNews) -> Void) { self.tell = tell }
    }

    /// Queues a job; returns `false` once the writer is stopping.
    func submit(_ job: Job) -> Bool { queue.submit(job) }

    var statistics: PostgresGroupCommitStatistics { queue.statistics }

    /// Lets the queued jobs commit, ends the thread and closes its connections.
    func stop() {
        guard queue.stop() else { return }
        for slot in 0..<2 { dropConnection(slot) }
    }

    /// The loop: take what queued, send its opening statements, then finish the batch whose
    /// COMMIT is in flight and go on with the new one. Two batches overlap this way, on two
    /// connections: while one commit is being flushed, the next batch is already waiting for
    /// the head lock, and its versions and claims come back as soon as that commit is visible.
    /// The writer blocks for new work only when no commit is in flight.
    private func run() {
        var inFlight: SentBatch?
        var slot = 0
        while true {
            if inFlight == nil { queue.waitForWork() }
            let taken = queue.take()
            let jobs = taken.jobs
            var opened: OpenedBatch?
            if !jobs.isEmpty {
                // Beside a batch in flight the other connection; otherwise the last one used.
                if inFlight != nil { slot = 1 - slot }
                opened = open(jobs, slot: slot)
            }
            if let batch = inFlight {
                finish(batch)
                inFlight = nil
            }
            if let opened { inFlight = proceed(opened) }
            if inFlight == nil && taken.stopping && queue.isEmpty {
                queue.writerEnded()
                return
            }
        }
    }

    /// The writer's connection in `slot` (0 or 1), opened when there is none (first use, or
    /// after a failure).
    func writerConnection(_ slot: Int) throws(EventLogError) -> PostgresConnection {
        if let open = connections.withLock({ $0[slot] }), !open.isClosed { return open }
        let fresh = try server.connect()
        do {
            for statement in Self.statements { _ = try server.prepared(statement, on: fresh) }
        } catch {
            _ = try? fresh.close().wait()
            throw error
        }
        connections.withLock { $0[slot] = fresh }
        return fresh
    }

    /// Closes the writer's connection in `slot` after a failure: its transaction state is unknown.
    func dropConnection(_ slot: Int) {
        if let open = connections.withLock({ $0[slot].take() }) { _ = try? open.close().wait() }
    }
}

/// How well group commit is batching: appends and events per transaction, since the log opened.
public struct PostgresGroupCommitStatistics: Hashable, Sendable {
    /// Transactions attempted (one per batch).
    public var batches: UInt64 = 0
    /// Append calls handed to those batches.
    public var appends: UInt64 = 0
    /// Events in those batches.
    public var events: UInt64 = 0
}
