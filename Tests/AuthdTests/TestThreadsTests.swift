import Foundation
import TestSupport
import Testing

/// ``TestThreads``, on which every suite runs (`.ownThreads`): a job blocked on its thread
/// never holds up another.
@Suite(.ownThreads) struct TestThreadsTests {
    /// Blocks each caller until `count` have come, or 30 s have passed (false).
    final class Barrier: @unchecked Sendable {
        let count: Int
        private let condition = NSCondition()
        private(set) var arrived = 0

        init(count: Int) { self.count = count }

        func arriveAndWait() -> Bool {
            condition.lock()
            defer { condition.unlock() }
            arrived += 1
            condition.broadcast()
            let deadline = Date(timeIntervalSinceNow: 30)
            while arrived < count { guard condition.wait(until: deadline) else { return false } }
            return true
        }
    }

    /// More jobs than the cooperative pool has threads, each blocked until all have started:
    /// they all get there only if each has a thread of its own. On the cooperative pool (one
    /// thread a core) the first ones block it and the rest never start.
    @Test func jobsBlockedAtOnceEachHaveAThreadOfTheirOwn() async {
        let barrier = Barrier(count: 4 * ProcessInfo.processInfo.activeProcessorCount + 2)
        let met = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<barrier.count {
                group.addTask(executorPreference: TestThreads.shared) { barrier.arriveAndWait() }
            }
            return await group.allSatisfy { $0 }
        }
        #expect(met, "only \(barrier.arrived) of \(barrier.count) blocked jobs started")
    }
}
