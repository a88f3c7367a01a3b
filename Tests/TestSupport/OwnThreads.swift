import Foundation
import Synchronization
import Testing

/// Threads for the tests' own work, as many as are busy: a job never waits behind a blocked
/// one.
///
/// Rules:
/// - Swift's cooperative pool has one thread a core (two on a CI machine). A test that blocks
///   one (waiting for an `authd` to print its port, for an `authctl` to exit, for a socket)
///   holds it; two such tests held the whole pool, and every other test's timers and
///   continuations waited behind them, for minutes: tests with a time budget then failed on a
///   machine that was not busy at all. Here a job finds an idle thread or gets a new one.
/// - A thread idle for 10 s ends.
public final class TestThreads: TaskExecutor, @unchecked Sendable {
    /// The one executor every suite marked ``Trait/ownThreads`` runs on.
    public static let shared = TestThreads()

    /// Guards ``jobs`` and ``idle``.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var idle = 0

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        if jobs.count > idle {
            let thread = Thread { self.work() }
            thread.name = "test-threads"
            thread.start()
        }
        condition.signal()
        condition.unlock()
    }

    private func work() {
        condition.lock()
        while true {
            while jobs.isEmpty {
                idle += 1
                let woken = condition.wait(until: Date(timeIntervalSinceNow: 10))
                idle -= 1
                if !woken && jobs.isEmpty {
                    condition.unlock()
                    return
                }
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
            condition.lock()
        }
    }
}

/// Runs a suite's tests (and the suites inside it) on ``TestThreads``, off Swift's cooperative
/// pool, so that a test blocking on a process or a socket never holds up the others; at most
/// ``width`` test cases at once.
///
/// The cooperative pool's two threads used to bound, by accident, how many tests ran their
/// blocking parts at once. Without a bound every test started together (a load average of
/// 77 on two cores; PostgreSQL connections timed out), so the trait sets one of its own,
/// however the tests are run (`swift test --parallel` alone included).
public struct OwnThreadsTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    /// Test cases running at once: four a core.
    public static let width = max(4, 4 * ProcessInfo.processInfo.activeProcessorCount)
    static let permits = Permits(Self.width)

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite's scope takes no permit: its test cases, inside it, take one each.
        guard testCase != nil else {
            return try await withTaskExecutorPreference(TestThreads.shared) { try await function() }
        }
        await Self.permits.take()
        defer { Self.permits.give() }
        try await withTaskExecutorPreference(TestThreads.shared) { try await function() }
    }
}

/// A count of permits that tasks wait for in turn.
final class Permits: Sendable {
    private struct State {
        var free: Int
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(free: count)) }

    /// Returns once a permit is this caller's.
    func take() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state in
                guard state.free > 0 else {
                    state.waiting.append(continuation)
                    return false
                }
                state.free -= 1
                return true
            }
            if granted { continuation.resume() }
        }
    }

    /// Gives a permit back: to the first waiting, if any.
    func give() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.free += 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}

extension Trait where Self == OwnThreadsTrait {
    /// Runs the suite's tests on threads of their own (``TestThreads``).
    public static var ownThreads: Self { Self() }
}
