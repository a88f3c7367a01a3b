import EventLog
import Synchronization
import TestSupport
import Testing

/// A read model that moves forward by `step` each time it is asked where it is.
final class AdvancingReadModel: Sendable {
    private let state: Mutex<(position: UInt64, reads: Int)>
    let step: UInt64

    init(at position: UInt64, step: UInt64) {
        state = Mutex((position, 0))
        self.step = step
    }

    var reads: Int { state.withLock { $0.reads } }

    func position() -> UInt64 {
        state.withLock { state in
            defer { state.position += step }
            state.reads += 1
            return state.position
        }
    }
}

@Suite(.ownThreads) struct PositionPollingTests {
    @Test func aReachedPositionAnswersWithOneRead() async throws {
        let model = AdvancingReadModel(at: 7, step: 1)
        let seen = try await PositionPolling.wait(for: 7, timeout: .seconds(86_400)) { model.position() }
        #expect(seen == 7 && model.reads == 1)
        #expect(try await PositionPolling.wait(for: 0, timeout: .zero) { 3 } == 3)
    }

    @Test func itWaitsUntilTheReadModelGetsThere() async throws {
        let model = AdvancingReadModel(at: 0, step: 1)
        // A day: the deadline never decides here, however slowly a loaded machine runs the test.
        let seen = try await PositionPolling.wait(for: 5, timeout: .seconds(86_400)) { model.position() }
        #expect(seen == 5, "the first position at or past the target")
        #expect(model.reads == 6)
    }

    @Test func aReadModelThatStandsStillIsGivenUpOnAtTheDeadline() async throws {
        let model = AdvancingReadModel(at: 4, step: 0)
        let clock = ContinuousClock()
        let start = clock.now
        let seen = try await PositionPolling.wait(for: 5, timeout: .milliseconds(120)) { model.position() }
        #expect(seen == 4)
        #expect(clock.now - start >= .milliseconds(120), "it gave up before its timeout")
        // At least the first read and the one at the deadline; pauses of 1, 2, 4, ... ms, at
        // most 50, allow no more than 9 in 120 ms (fewer when the machine is slow): no busy loop.
        #expect((2...9).contains(model.reads), "\(model.reads) reads in 120 ms")
        #expect(try await PositionPolling.wait(for: 5, timeout: .zero) { model.position() } == 4)
    }

    @Test func aCancelledWaitAnswersWithWhatItSaw() async throws {
        let model = AdvancingReadModel(at: 1, step: 0)
        let waiting = Task { try await PositionPolling.wait(for: 2, timeout: .seconds(600)) { model.position() } }
        // Cancelled once it has read at least once (a bounded poll on a real condition).
        for _ in 0..<10_000 where model.reads == 0 { await Task.yield() }
        waiting.cancel()
        #expect(try await waiting.value == 1)
    }

    @Test func aFailingReadIsThrown() async throws {
        struct Broken: Error {}
        await #expect(throws: Broken.self) {
            try await PositionPolling.wait(for: 1, timeout: .seconds(1)) { throw Broken() }
        }
    }
}
