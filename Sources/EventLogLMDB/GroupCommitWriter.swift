import EventLog
import Foundation

/// One dedicated thread that takes every job queued since its last commit and hands them
/// to `commit` together, so one fsync acknowledges many appends.
///
/// While a commit is being synced, new jobs queue up; the next round takes them all (up to
/// `maximumBatchWeight`). Nothing here knows about LMDB: `commit` does the transaction.
final class GroupCommitWriter<Job: Sendable>: Sendable {
    private let queue: WriterQueue<Job, GroupCommitStatistics>

    /// Starts the thread, named `name` (15 bytes at most show). `commit` runs on it only, one
    /// batch at a time.
    init(
        name: String, maximumBatchWeight: Int, weight: @escaping @Sendable (Job) -> Int,
        commit: @escaping @Sendable ([Job]) -> Void
    ) {
        queue = WriterQueue(
            maximumBatchWeight: maximumBatchWeight, weight: weight, statistics: GroupCommitStatistics(),
            record: { statistics, jobs, weight in
                statistics.batches += 1
                statistics.jobs += UInt64(jobs)
                statistics.weight += UInt64(weight)
                statistics.countBatch(ofJobs: jobs)
            })
        let thread = Thread { [self] in
            nameCurrentThread(name)
            run(commit)
        }
        thread.start()
    }

    /// Queues a job; returns `false` once the writer is stopping.
    func submit(_ job: Job) -> Bool { queue.submit(job) }

    /// Batches and jobs handed to `commit` so far.
    var statistics: GroupCommitStatistics { queue.statistics }

    /// Lets the queued jobs commit, then ends the thread; returns when it has ended.
    func stop() { queue.stop() }

    private func run(_ commit: @Sendable ([Job]) -> Void) {
        while true {
            queue.waitForWork()
            let batch = queue.take()
            if !batch.jobs.isEmpty { commit(batch.jobs) }
            // Jobs left behind, or queued meanwhile, make the next wait return at once.
            if !batch.more && batch.stopping {
                queue.writerEnded()
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
