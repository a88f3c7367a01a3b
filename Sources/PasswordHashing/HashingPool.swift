import Dispatch
import Foundation
import Synchronization

/// A fixed set of threads for password hashing, so that 100 parallel logins run at most
/// `threads` hashes (and hold at most that many Argon2 memory blocks) at once, and never
/// on an event loop or a cooperative-pool thread.
///
/// Rules:
/// - Jobs run in the order they came, each taken from the queue in O(1).
/// - With a `maximumWait`, the queue is bounded by time: a job that would wait longer than that
///   before a thread takes it (the jobs ahead of it, times the recent time per job, shared by
///   the threads) is refused at once with ``HashingPoolBusy``, so a caller either starts
///   within about `maximumWait` or learns at once that it must come back later. Until the
///   first job has been timed, at most `threads × 64` jobs wait.
/// - Each thread keeps its Argon2 memory block from one hash to the next (``Argon2Memory``)
///   and frees it once it has had no job for `blockIdleSeconds`: at most `threads` blocks stay
///   allocated while each thread gets a hash that often, none once hashes have stopped.
public final class HashingPool: Sendable {
    private struct State {
        var jobs = JobQueue()
        var stopping = false
        /// The recent time per job in seconds (a moving average; 0 until one has finished).
        var secondsPerJob = 0.0
    }

    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    public let threads: Int
    /// The longest a job may expect to wait for a thread, in seconds; `nil`: unbounded.
    public let maximumWait: Double?
    /// How long a thread keeps its Argon2 block with no job to run, in seconds.
    public let blockIdleSeconds: Double

    public init(
        threads: Int = ProcessInfo.processInfo.activeProcessorCount, maximumWait: Double? = nil,
        blockIdleSeconds: Double = 10
    ) {
        self.threads = max(1, threads)
        self.maximumWait = maximumWait
        self.blockIdleSeconds = blockIdleSeconds
        for index in 0..<self.threads {
            let thread = Thread { [self] in work() }
            thread.name = "authlog.hashing.\(index)"
            thread.start()
        }
    }

    /// Jobs waiting for a thread (for the KDF queue-depth metric).
    public var queueDepth: Int { state.withLock { $0.jobs.count } }

    /// Runs `body` on a pool thread and returns its result. Throws ``HashingPoolBusy`` when
    /// the queue is full (see the rules above).
    public func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let refusal = state.withLock { state -> (any Error)? in
                guard !state.stopping else { return PasswordHashError.failed("the hashing pool is stopped") }
                if let wait = refusedWait(state) { return HashingPoolBusy(expectedWait: wait) }
                state.jobs.append { continuation.resume(with: Swift.Result { try body() }) }
                return nil
            }
            if let refusal {
                continuation.resume(throwing: refusal)
            } else {
                available.signal()
            }
        }
    }

    /// The wait a new job would face, when that is over ``maximumWait``; `nil` to accept it.
    private func refusedWait(_ state: State) -> Double? {
        guard let maximumWait else { return nil }
        let ahead = Double(state.jobs.count)
        if state.secondsPerJob == 0 {
            return state.jobs.count < threads * 64 ? nil : maximumWait
        }
        let wait = ahead * state.secondsPerJob / Double(threads)
        return wait > maximumWait ? wait : nil
    }

    /// Lets queued jobs finish, then ends the threads.
    public func stop() {
        state.withLock { $0.stopping = true }
        for _ in 0..<threads { available.signal() }
    }

    private func work() {
        Argon2Memory.keepBlocksOnThisThread()
        while true {
            if available.wait(timeout: .now() + blockIdleSeconds) == .timedOut {
                Argon2Memory.freeKeptBlock()
                available.wait()
            }
            let job = state.withLock { $0.jobs.removeFirst() }
            if let job {
                let start = DispatchTime.now().uptimeNanoseconds
                job()
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                state.withLock { state in
                    state.secondsPerJob =
                        state.secondsPerJob == 0 ? seconds : state.secondsPerJob * 0.8 + seconds * 0.2
                }
            } else if state.withLock({ $0.stopping }) {
                return
            }
        }
    }
}

/// The hashing pool's queue is full: the caller should answer "busy" and come back after
/// about `expectedWait` seconds.
public struct HashingPoolBusy: Error, Hashable, Sendable, CustomStringConvertible {
    public var expectedWait: Double

    public var description: String { "the password hashing queue is full" }
}

/// A first-in, first-out queue of jobs in a ring buffer: append and removeFirst in O(1).
private struct JobQueue {
    private var slots: [(@Sendable () -> Void)?] = Array(repeating: nil, count: 16)
    private var head = 0
    private(set) var count = 0

    mutating func append(_ job: @escaping @Sendable () -> Void) {
        if count == slots.count {
            // Full: unroll into a buffer twice the size, oldest first.
            var grown: [(@Sendable () -> Void)?] = Array(repeating: nil, count: slots.count * 2)
            for offset in 0..<count { grown[offset] = slots[(head + offset) % slots.count] }
            slots = grown
            head = 0
        }
        slots[(head + count) % slots.count] = job
        count += 1
    }

    mutating func removeFirst() -> (@Sendable () -> Void)? {
        guard count > 0 else { return nil }
        let job = slots[head]
        slots[head] = nil
        head = (head + 1) % slots.count
        count -= 1
        return job
    }
}
