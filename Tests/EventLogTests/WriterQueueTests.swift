import Foundation
import Synchronization
import TestSupport
import Testing

@testable import EventLog

@Suite(.ownThreads) struct WriterQueueTests {
    struct Counts: Sendable, Equatable {
        var batches = 0
        var jobs = 0
        var weight = 0
    }

    static func queue(maximumBatchWeight: Int) -> WriterQueue<Int, Counts> {
        WriterQueue(
            maximumBatchWeight: maximumBatchWeight, weight: { $0 }, statistics: Counts(),
            record: { counts, jobs, weight in
                counts.batches += 1
                counts.jobs += jobs
                counts.weight += weight
            })
    }

    /// A batch takes jobs in order until its weight reaches the maximum, always at least one.
    @Test func batchesTakeJobsInOrderUpToTheirWeight() {
        let queue = Self.queue(maximumBatchWeight: 5)
        for job in [2, 2, 2, 9, 1] { #expect(queue.submit(job)) }
        let first = queue.take()
        #expect(first.jobs == [2, 2, 2] && first.weight == 6 && first.more && !first.stopping)
        let second = queue.take()
        #expect(second.jobs == [9] && second.weight == 9 && second.more)
        let third = queue.take()
        #expect(third.jobs == [1] && !third.more)
        #expect(queue.take().jobs.isEmpty && queue.isEmpty)
        #expect(queue.statistics == Counts(batches: 3, jobs: 5, weight: 16))
    }

    /// `stop` refuses new jobs, lets the writer take what queued before it, and returns only
    /// once the writer has ended; a second `stop` returns at once.
    @Test func stopWaitsForTheWriterAndRefusesLaterJobs() {
        let queue = Self.queue(maximumBatchWeight: 100)
        let taken = Mutex<[Int]>([])
        let writer = Thread {
            while true {
                queue.waitForWork()
                let batch = queue.take()
                taken.withLock { $0 += batch.jobs }
                if batch.more {
                    queue.wakeAgain()
                } else if batch.stopping {
                    queue.writerEnded()
                    return
                }
            }
        }
        writer.start()
        for job in 1...50 { #expect(queue.submit(job)) }
        #expect(queue.stop())
        #expect(taken.withLock { $0 } == Array(1...50))
        #expect(!queue.submit(51))
        #expect(!queue.stop())
        #expect(queue.statistics.jobs == 50)
    }
}
