import EventLog
import TestSupport
import Testing

@Suite(.ownThreads) struct PositionWaitersTests {
    /// A day: the deadline never decides a test that expects the target to be reached,
    /// however slowly a loaded machine runs it.
    static let never = Duration.seconds(86_400)

    @Test func aReachedTargetAnswersAtOnce() async {
        let waiters = PositionWaiters(position: 7)
        #expect(await waiters.wait(for: 7, timeout: Self.never) == 7)
        #expect(await waiters.wait(for: 3, timeout: .zero) == 7)
    }

    @Test func aWaitEndsWhenTheOwnerAdvancesPastItsTarget() async {
        let waiters = PositionWaiters(position: 0)
        let waiting = Task { await waiters.wait(for: 5, timeout: Self.never) }
        for position in 1...9 as ClosedRange<UInt64> { waiters.advance(to: position) }
        #expect(await waiting.value >= 5)
    }

    @Test func onlyTheWaitsAnAdvanceReachesEnd() async {
        let waiters = PositionWaiters(position: 0)
        let near = Task { await waiters.wait(for: 3, timeout: Self.never) }
        let far = Task { await waiters.wait(for: 100, timeout: .milliseconds(200)) }
        waiters.advance(to: 4)
        #expect(await near.value == 4)
        // Not reached: it ends at its deadline with the position then.
        #expect(await far.value == 4)
    }

    @Test func aPositionNeverGoesBack() {
        let waiters = PositionWaiters(position: 10)
        waiters.advance(to: 4)
        #expect(waiters.position == 10)
        waiters.advance(to: 11)
        #expect(waiters.position == 11)
    }

    /// The read model being made again: a target the old one had reached waits for the new
    /// one, and a wait already waiting goes on.
    @Test func afterMovingBackATargetReachedBeforeWaitsAgain() async {
        let waiters = PositionWaiters(position: 10)
        let far = Task { await waiters.wait(for: 15, timeout: Self.never) }
        for _ in 0..<100_000 where waiters.waitCount < 1 { await Task.yield() }
        waiters.moveBack(to: 0)
        #expect(waiters.position == 0)
        #expect(await waiters.wait(for: 8, timeout: .zero) == 0)
        let near = Task { await waiters.wait(for: 8, timeout: Self.never) }
        waiters.advance(to: 9)
        #expect(await near.value == 9)
        waiters.moveBack(to: 20)  // never forward
        #expect(waiters.position == 9)
        waiters.advance(to: 15)
        #expect(await far.value == 15)
    }

    @Test func aWaitThatIsNotReachedEndsAtItsDeadline() async {
        let waiters = PositionWaiters(position: 4)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await waiters.wait(for: 5, timeout: .milliseconds(120)) == 4)
        #expect(clock.now - start >= .milliseconds(120), "it gave up before its timeout")
        #expect(await waiters.wait(for: 5, timeout: .zero) == 4)
    }

    /// One task keeps every deadline: a short wait begun after a long one still ends at its
    /// own deadline, not at the long one's, and the long one goes on waiting.
    @Test func aShortWaitBegunAfterALongOneEndsAtItsOwnDeadline() async {
        let waiters = PositionWaiters(position: 4)
        let long = Task { await waiters.wait(for: 9, timeout: Self.never) }
        for _ in 0..<100_000 where waiters.waitCount < 1 { await Task.yield() }
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await waiters.wait(for: 9, timeout: .milliseconds(150)) == 4)
        let waited = clock.now - start
        #expect(waited >= .milliseconds(150), "it gave up before its timeout")
        // A bound for a failure only: the long wait's deadline is a day away.
        #expect(waited < .seconds(60))
        #expect(waiters.waitCount == 1)
        waiters.advance(to: 9)
        #expect(await long.value == 9)
        // With no wait left, a new one still has its deadline kept.
        #expect(await waiters.wait(for: 10, timeout: .milliseconds(50)) == 9)
    }

    @Test func endingEveryWaitAnswersThemWithThePositionThen() async {
        let waiters = PositionWaiters(position: 2)
        // 60 s: a bound for a failure only (a wait not ended would otherwise hang the test).
        let waiting = (0..<3).map { offset in
            Task { await waiters.wait(for: 10 + UInt64(offset), timeout: .seconds(60)) }
        }
        // Once all three have begun (a bounded poll on a real condition), whether or not
        // each has suspended yet.
        for _ in 0..<100_000 where waiters.waitCount < 3 { await Task.yield() }
        #expect(waiters.waitCount == 3)
        waiters.endAll()
        for wait in waiting { #expect(await wait.value == 2) }
    }

    @Test func aCancelledWaitAnswersWithThePositionThen() async {
        let waiters = PositionWaiters(position: 1)
        let waiting = Task { await waiters.wait(for: 2, timeout: Self.never) }
        waiting.cancel()
        #expect(await waiting.value == 1)
    }

    /// Many waits and advances racing: every wait whose target the last advance reached
    /// returns at least its target, none is lost between its check and its registration.
    @Test func wakeUpsAreNotLostInARace() async {
        let waiters = PositionWaiters(position: 0)
        await withTaskGroup(of: (UInt64, UInt64).self) { group in
            for target in 1...500 as ClosedRange<UInt64> {
                group.addTask { (target, await waiters.wait(for: target, timeout: Self.never)) }
            }
            group.addTask {
                for position in 1...500 as ClosedRange<UInt64> {
                    waiters.advance(to: position)
                    await Task.yield()
                }
                return (0, 0)
            }
            for await (target, reached) in group { #expect(reached >= target) }
        }
    }
}
