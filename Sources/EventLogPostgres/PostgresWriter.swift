import Dispatch
import EventLog
import Foundation
import PostgresNIO
import Signatures
import Synchronization

/// The log's one writer: a thread that takes every append queued since its last commit and
/// writes them in one transaction on its own connection (group commit), so one flush
/// acknowledges many appends. While a commit is being flushed, new appends queue up.
///
/// The connection belongs to the thread; a failed batch closes it and the next opens another.
final class PostgresWriter: Sendable {
    /// Appends from one ``PostgresEventLog/append(_:)`` call, with the continuation that
    /// receives their outcomes.
    struct Job: Sendable {
        let requests: [AppendRequest]
        let continuation: CheckedContinuation<[Result<AppendResult, EventLogError>], any Error>

        var eventCount: Int { requests.reduce(0) { $0 + $1.events.count } }
    }

    private struct Queue {
        var jobs: [Job] = []
        var stopping = false
        var statistics = PostgresGroupCommitStatistics()
    }

    let server: PostgresServer
    let clock: @Sendable () -> Timestamp
    let maximumBatchEvents: Int
    /// Signs the head at every commit (see ``Checkpoint``); `nil` writes no checkpoints.
    let signingKey = Mutex<Ed25519Key?>(nil)
    /// The stored bytes of the head checkpoint this process last wrote or verified.
    let knownCheckpoint = Mutex<[UInt8]?>(nil)
    /// The writer thread's connection; touched by that thread only (and by `stop` after it ended).
    let connection = Mutex<PostgresConnection?>(nil)
    private let queue = Mutex(Queue())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(server: PostgresServer, maximumBatchEvents: Int, clock: @escaping @Sendable () -> Timestamp) {
        self.server = server
        self.clock = clock
        self.maximumBatchEvents = max(1, maximumBatchEvents)
        let thread = Thread { [self] in run() }
        thread.name = "authlog.eventlog.postgres.writer"
        thread.start()
    }

    /// Queues a job; returns `false` once the writer is stopping.
    func submit(_ job: Job) -> Bool {
        let accepted = queue.withLock { queue in
            guard !queue.stopping else { return false }
            queue.jobs.append(job)
            return true
        }
        if accepted { wakeUp.signal() }
        return accepted
    }

    var statistics: PostgresGroupCommitStatistics { queue.withLock { $0.statistics } }

    /// Lets the queued jobs commit, ends the thread and closes its connection.
    func stop() {
        let first = queue.withLock { queue in
            defer { queue.stopping = true }
            return !queue.stopping
        }
        guard first else { return }
        wakeUp.signal()
        finished.wait()
        if let open = connection.withLock({ $0.take() }) { _ = try? open.close().wait() }
    }

    private func run() {
        while true {
            wakeUp.wait()
            let (batch, more, stopping) = queue.withLock { queue -> ([Job], Bool, Bool) in
                var events = 0
                var taken = 0
                while taken < queue.jobs.count && (taken == 0 || events < maximumBatchEvents) {
                    events += queue.jobs[taken].eventCount
                    taken += 1
                }
                let batch = Array(queue.jobs[0..<taken])
                queue.jobs.removeFirst(taken)
                if taken > 0 {
                    queue.statistics.batches += 1
                    queue.statistics.appends += UInt64(taken)
                    queue.statistics.events += UInt64(events)
                }
                return (batch, !queue.jobs.isEmpty, queue.stopping)
            }
            if !batch.isEmpty { commit(batch) }
            if more {
                wakeUp.signal()
            } else if stopping {
                finished.signal()
                return
            }
        }
    }

    /// Writes a batch and answers every job: each with its own outcome, or all with the error
    /// that kept the batch from committing (then none of it was acknowledged).
    private func commit(_ jobs: [Job]) {
        switch writeBatch(jobs.map(\.requests)) {
        case .success(let outcomes):
            for (job, outcome) in zip(jobs, outcomes) { job.continuation.resume(returning: outcome) }
        case .failure(let error):
            for job in jobs { job.continuation.resume(throwing: error) }
        }
    }

    /// The writer's connection, opened when there is none (first use, or after a failure).
    func writerConnection() throws(EventLogError) -> PostgresConnection {
        if let open = connection.withLock({ $0 }), !open.isClosed { return open }
        let fresh = try server.connect()
        connection.withLock { $0 = fresh }
        return fresh
    }

    /// Closes the writer's connection after a failure: its transaction state is unknown.
    func dropConnection() {
        if let open = connection.withLock({ $0.take() }) { _ = try? open.close().wait() }
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
