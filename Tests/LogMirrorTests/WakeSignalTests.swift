import Foundation
import TestSupport
import Testing

@testable import LogMirror

/// What wakes a node's copying thread: wake-ups given while it copies are not lost, and many
/// count as one copy, not one each.
@Suite(.ownThreads) struct WakeSignalTests {
    @Test func wakeUpsGivenBeforeAWaitCountAsOne() {
        let signal = WakeSignal()
        signal.signal()
        signal.signal()
        let clock = ContinuousClock()
        let start = clock.now
        #expect(signal.wait(atMost: .seconds(60)))
        // A bound for a failure only: a lost wake-up would wait the whole minute.
        #expect(clock.now - start < .seconds(30))
        // The second signal was folded into the first: this wait lasts its timeout.
        let again = clock.now
        #expect(signal.wait(atMost: .milliseconds(100)))
        #expect(clock.now - again >= .milliseconds(100))
    }

    @Test func aWakeUpFromAnotherThreadEndsTheWait() async {
        let signal = WakeSignal()
        let waiting = Task.detached { signal.wait(atMost: .seconds(60)) }
        signal.signal()
        #expect(await waiting.value)
    }

    @Test func stoppingEndsEveryWaitForGood() async {
        let signal = WakeSignal()
        let waiting = Task.detached { signal.wait(atMost: .seconds(60)) }
        signal.stop()
        #expect(await waiting.value == false)
        signal.signal()
        #expect(signal.wait(atMost: .seconds(60)) == false)
    }
}
