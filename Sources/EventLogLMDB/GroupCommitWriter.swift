import Dispatch
import Foundation
import Synchronization

/// One dedicated thread that takes every job queued since its last commit and hands them
/// to `commit` together, so one fsync acknowledges many appends.
///
/// While a commit is being synced, new jobs queue up; the next round takes them all (up to
/// `maximumBatchWeight`). Nothing here knows about LMDB: `commit` does the transaction.
final class GroupCommitWriter<Job: Sendable>: Sendable {
    private struct Queue {
        var jobs: [Job] = []
        var stopping = false
        var statistics = GroupCommitStatistics()
    }

    private let queue = Mutex(Queue())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let weight: @Sendable (Job) -> Int
    private let maximumBatchWeight: Int

    /// Starts the thread. `commit` runs on it only, one batch at a time; `reject` answers
    /// jobs that arrive after ``stop()``.
    init(
        name: String, maximumBatchWeight: Int, weight: @escaping @Sendable (Job) -> Int,
        commit: @escaping @Sendable ([Job]) -> Void
    ) {
        self.weight = weight
        self.maximumBatchWeight = maximumBatchWeight
        let thread = Thread { [self] in run(commit) }
        thread.name = name
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

    /// Batches and jobs handed to `commit` so far.
    var statistics: GroupCommitStatistics { queue.withLock { $0.statistics } }

    /// Lets the queued jobs commit, then ends the thread; returns when it has ended.
    func stop() {
        let first = queue.withLock { queue in
            defer { queue.stopping = true }
            return !queue.stopping
        }
        guard first else { return }
        wakeUp.signal()
        finished.wait()
    }

    private func run(_ commit: @Sendable ([Job]) -> Void) {
        while true {
            wakeUp.wait()
            let (batch, more, stopping) = queue.withLock { queue -> ([Job], Bool, Bool) in
                var total = 0
                var taken = 0
                while taken < queue.jobs.count && (taken == 0 || total < maximumBatchWeight) {
                    total += weight(queue.jobs[taken])
                    taken += 1
                }
                let batch = Array(queue.jobs[0..<taken])
                queue.jobs.removeFirst(taken)
                if taken > 0 {
                    queue.statistics.batches += 1
                    queue.statistics.jobs += UInt64(taken)
                    queue.statistics.weight += UInt64(total)
                    queue.statistics.countBatch(ofJobs: taken)
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
}

/// How well group commit is batching: jobs and events per batch, since the log opened.
public struct GroupCommitStatistics: Hashable, Sendable {
    /// Write transactions attempted (one per batch).
    public var batches: UInt64 = 0
    /// Append calls handed to those batches.
    public var jobs: UInt64 = 0
    /// Events in those batches.
    public var weight: UInt64 = 0
    /// Batches by how many appends they held: `batchesBySize[i]` counts those of at most
    /// `batchSizeBounds[i]` appends and more than the bound before it; the last, those above
    /// every bound.
    public var batchesBySize = [UInt64](repeating: 0, count: GroupCommitStatistics.batchSizeBounds.count + 1)

    /// Upper bounds of the batch-size buckets, in appends.
    public static let batchSizeBounds = [1, 2, 4, 8, 16, 32, 64, 128, 256]

    mutating func countBatch(ofJobs jobs: Int) {
        batchesBySize[Self.batchSizeBounds.firstIndex { jobs <= $0 } ?? Self.batchSizeBounds.count] += 1
    }
}
