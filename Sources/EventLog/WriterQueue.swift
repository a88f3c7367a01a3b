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
/// - Only the writer thread calls ``waitForWork()``, ``take()``, ``wakeAgain()`` and
///   ``writerEnded()``.
/// - `record` counts each batch into `Statistics` under the queue's lock, so that a reader of
///   ``statistics`` sees whole batches.
public final class WriterQueue<Job: Sendable, Statistics: Sendable>: Sendable {
    /// One batch for the writer: its jobs, their summed weight, and what is left behind.
    public struct Batch {
        public var jobs: [Job]
        public var weight: Int
        /// Whether jobs are still queued after this batch.
        public var more: Bool
        /// Whether ``WriterQueue/stop()`` was called.
        public var stopping: Bool
    }

    private struct State {
        var jobs: [Job] = []
        var stopping = false
        var statistics: Statistics
    }
    private let state: Mutex<State>
    private let wakeUp = DispatchSemaphore(value: 0)
    private let ended = DispatchSemaphore(value: 0)
    private let weight: @Sendable (Job) -> Int
    private let maximumBatchWeight: Int
    private let record: @Sendable (inout Statistics, _ jobs: Int, _ weight: Int) -> Void

    public init(
        maximumBatchWeight: Int, weight: @escaping @Sendable (Job) -> Int, statistics: Statistics,
        record: @escaping @Sendable (inout Statistics, _ jobs: Int, _ weight: Int) -> Void
    ) {
        self.maximumBatchWeight = max(1, maximumBatchWeight)
        self.weight = weight
        self.record = record
        self.state = Mutex(State(statistics: statistics))
    }

    /// Queues a job and wakes the writer; `false` once the queue is stopping.
    public func submit(_ job: Job) -> Bool {
        let accepted = state.withLock { state in
            guard !state.stopping else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { wakeUp.signal() }
        return accepted
    }

    /// The counts `record` made so far.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Whether no job is queued.
    public var isEmpty: Bool { state.withLock { $0.jobs.isEmpty } }

    /// Blocks the writer until a job was submitted (or a wake-up is pending) or `stop` was called.
    public func waitForWork() { wakeUp.wait() }

    /// Lets the writer's next ``waitForWork()`` return at once (for jobs a batch left behind).
    public func wakeAgain() { wakeUp.signal() }

    /// Takes the next batch (empty when nothing is queued) and counts it.
    public func take() -> Batch {
        state.withLock { state in
            var total = 0
            var taken = 0
            while taken < state.jobs.count && (taken == 0 || total < maximumBatchWeight) {
                total += weight(state.jobs[taken])
                taken += 1
            }
            let jobs = Array(state.jobs[0..<taken])
            state.jobs.removeFirst(taken)
            if taken > 0 { record(&state.statistics, taken, total) }
            return Batch(jobs: jobs, weight: total, more: !state.jobs.isEmpty, stopping: state.stopping)
        }
    }

    /// Refuses new jobs, wakes the writer and waits until it calls ``writerEnded()``. Returns
    /// `false` (at once) when `stop` was called before.
    @discardableResult
    public func stop() -> Bool {
        let first = state.withLock { state in
            defer { state.stopping = true }
            return !state.stopping
        }
        guard first else { return false }
        wakeUp.signal()
        ended.wait()
        return true
    }

    /// Says the writer has taken its last batch and is ending: `stop` returns.
    public func writerEnded() { ended.signal() }
}
