import Dispatch
import Synchronization

/// The queue in front of a log's one writer thread: what group commit in each backend shares.
///
/// Appends queue up from any thread; the writer takes them in batches, each as many jobs as
/// came (at least one, and no more once `maximumBatchWeight` is reached), so one commit
/// acknowledges them all.
///
/// Rules:
/// - ``submit(_:)`` refuses jobs once ``stop()`` was called; jobs queued before it are still
///   taken, and `stop` returns only after the writer said ``writerEnded()``.
/// - Only the writer thread calls ``waitForWork()``, ``take()`` and ``writerEnded()``.
/// - ``waitForWork()`` blocks only while nothing is queued and `stop` was not called; a
///   submit wakes the writer only when it sleeps there, so a batch of many jobs costs one
///   wake-up, not one a job.
/// - `record` counts each batch into `Statistics` under the queue's lock, so that a reader of
///   ``statistics`` sees whole batches.
///
/// The writer's side is inlinable so that each log's writer runs it specialized to its own
/// job type: it is the one serial stage every append passes.
public final class WriterQueue<Job: Sendable, Statistics: Sendable>: Sendable {
    /// One batch for the writer: its jobs, their summed weight, and what is left behind.
    public struct Batch {
        public var jobs: [Job]
        public var weight: Int
        /// Whether jobs are still queued after this batch.
        public var more: Bool
        /// Whether ``WriterQueue/stop()`` was called.
        public var stopping: Bool

        @usableFromInline init(jobs: [Job], weight: Int, more: Bool, stopping: Bool) {
            self.jobs = jobs
            self.weight = weight
            self.more = more
            self.stopping = stopping
        }
    }

    @usableFromInline struct State {
        @usableFromInline var jobs: [Job] = []
        @usableFromInline var stopping = false
        /// Set by the writer as it goes to sleep in ``WriterQueue/waitForWork()``; whoever
        /// clears it signals `wakeUp`, once.
        @usableFromInline var writerAsleep = false
        @usableFromInline var statistics: Statistics

        @usableFromInline init(statistics: Statistics) { self.statistics = statistics }
    }
    @usableFromInline let state: Mutex<State>
    @usableFromInline let wakeUp = DispatchSemaphore(value: 0)
    private let ended = DispatchSemaphore(value: 0)
    @usableFromInline let weight: @Sendable (Job) -> Int
    @usableFromInline let maximumBatchWeight: Int
    @usableFromInline let record: @Sendable (inout Statistics, _ jobs: Int, _ weight: Int) -> Void

    public init(
        maximumBatchWeight: Int, weight: @escaping @Sendable (Job) -> Int, statistics: Statistics,
        record: @escaping @Sendable (inout Statistics, _ jobs: Int, _ weight: Int) -> Void
    ) {
        self.maximumBatchWeight = max(1, maximumBatchWeight)
        self.weight = weight
        self.record = record
        self.state = Mutex(State(statistics: statistics))
    }

    /// Queues a job and wakes the writer if it sleeps; `false` once the queue is stopping.
    @inlinable public func submit(_ job: Job) -> Bool {
        let (accepted, wake) = state.withLock { state in
            guard !state.stopping else { return (false, false) }
            state.jobs.append(job)
            defer { state.writerAsleep = false }
            return (true, state.writerAsleep)
        }
        if wake { wakeUp.signal() }
        return accepted
    }

    /// The counts `record` made so far.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Whether no job is queued.
    @inlinable public var isEmpty: Bool { state.withLock { $0.jobs.isEmpty } }

    /// Blocks the writer while no job is queued and `stop` was not called; returns at once
    /// otherwise (jobs a batch left behind, or jobs that came while it committed).
    @inlinable public func waitForWork() {
        let sleep = state.withLock { state in
            guard state.jobs.isEmpty && !state.stopping else { return false }
            state.writerAsleep = true
            return true
        }
        if sleep { wakeUp.wait() }
    }

    /// Takes the next batch (empty when nothing is queued) and counts it.
    @inlinable public func take() -> Batch {
        state.withLock { state in
            var total = 0
            var taken = 0
            while taken < state.jobs.count && (taken == 0 || total < maximumBatchWeight) {
                total += weight(state.jobs[taken])
                taken += 1
            }
            let jobs: [Job]
            if taken == state.jobs.count {
                // The usual case: every queued job. The array is handed over, not copied; the
                // next one starts with room for as many, so its capacity follows the load.
                jobs = state.jobs
                state.jobs = []
                state.jobs.reserveCapacity(taken)
            } else {
                jobs = Array(state.jobs[0..<taken])
                state.jobs.removeFirst(taken)
            }
            if taken > 0 { record(&state.statistics, taken, total) }
            return Batch(jobs: jobs, weight: total, more: !state.jobs.isEmpty, stopping: state.stopping)
        }
    }

    /// Refuses new jobs, wakes the writer and waits until it calls ``writerEnded()``. Returns
    /// `false` (at once) when `stop` was called before.
    @discardableResult
    public func stop() -> Bool {
        let (first, wake) = state.withLock { state in
            defer {
                state.stopping = true
                state.writerAsleep = false
            }
            return (!state.stopping, state.writerAsleep)
        }
        guard first else { return false }
        if wake { wakeUp.signal() }
        ended.wait()
        return true
    }

    /// Says the writer has taken its last batch and is ending: `stop` returns.
    public func writerEnded() { ended.signal() }
}
