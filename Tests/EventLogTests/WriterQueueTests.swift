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

    /// Jobs queued while the writer is busy cost it one wake-up, not one a job: the wait
    /// after their batch finds no wake-up left and blocks until the next submit, which wakes it.
    @Test func aBatchOfJobsLeavesNoWakeUpsBehind() {
        let queue = Self.queue(maximumBatchWeight: 10_000)  // a job weighs its value: all 50 fit
        for job in 1...50 { #expect(queue.submit(job)) }
        queue.waitForWork()  // jobs are queued: returns at once
        #expect(queue.take().jobs == Array(1...50))
        #expect(queue.wakeUp.wait(timeout: .now()) == .timedOut, "a wake-up was left for each job")
        let woke = Self.writerAsleep(in: queue)
        #expect(queue.submit(51))
        #expect(woke.wait(timeout: .now() + 30) == .success, "the submit did not wake the writer")
        #expect(queue.take().jobs == [51])
    }

    /// `stop` wakes a writer asleep on an empty queue, which then takes an empty, stopping batch.
    @Test func stopWakesASleepingWriter() {
        let queue = Self.queue(maximumBatchWeight: 100)
        let woke = Self.writerAsleep(in: queue)
        let stopped = DispatchSemaphore(value: 0)
        let stopper = Thread {
            queue.stop()
            stopped.signal()
        }
        stopper.start()
        #expect(woke.wait(timeout: .now() + 30) == .success, "stop did not wake the writer")
        let batch = queue.take()
        #expect(batch.jobs.isEmpty && batch.stopping && !batch.more)
        queue.writerEnded()
        #expect(stopped.wait(timeout: .now() + 30) == .success)
    }

    /// Starts a writer thread that waits for work once, and returns once it is asleep in that
    /// wait (the queue says so); the semaphore is signalled when the wait returns.
    static func writerAsleep(in queue: WriterQueue<Int, Counts>) -> DispatchSemaphore {
        let woke = DispatchSemaphore(value: 0)
        let writer = Thread {
            queue.waitForWork()
            woke.signal()
        }
        writer.start()
        while !queue.state.withLock({ $0.writerAsleep }) { sched_yield() }  // a spin, not a wait for time
        return woke
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
                if !batch.more && batch.stopping {
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
