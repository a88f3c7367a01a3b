import Synchronization

/// Waiting for a position that only moves forward to reach a target, woken by the one that
/// moves it: for a read model that can say when it moves (a node's copy of a shared log).
///
/// Rules:
/// - The owner calls ``advance(to:)`` after each move, once the new position is visible to
///   readers; every wait whose target it reaches ends then, with no polling.
/// - A wait whose target is reached already ends at once, without suspending.
/// - A wait ends at its deadline, or when its task is cancelled, with the position reached
///   then (less than the target).
/// - ``position`` goes back only through ``moveBack(to:)`` (the read model is being made
///   again); a smaller value given to ``advance(to:)`` is ignored.
/// - Deadlines cost no task of their own: one task per instance sleeps until the earliest
///   deadline of the waits registered, and exists only while there are waits.
public final class PositionWaiters: Sendable {
    private struct Waiter {
        var target: UInt64
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, Never>
    }

    /// The task that ends waits at their deadlines, and when it wakes next.
    private struct Sweeper {
        var task: Task<Void, Never>
        var generation: UInt64
        var wakesAt: ContinuousClock.Instant
    }

    private struct State {
        var position: UInt64
        var nextID: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        /// Waits begun and not yet returned.
        var live: Set<UInt64> = []
        /// Live waits ended (deadline or cancellation) before they were registered.
        var ended: Set<UInt64> = []
        var sweeper: Sweeper?
        var sweepers: UInt64 = 0

        /// Removes the registered waits `ends` picks; returns their continuations, to resume
        /// once the lock is let go.
        mutating func removeWaiters(where ends: (Waiter) -> Bool) -> [CheckedContinuation<Void, Never>] {
            var ended: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in waiters where ends(waiter) {
                ended.append(waiter.continuation)
                waiters[id] = nil
            }
            return ended
        }
    }

    /// The longest wait kept: a longer timeout waits this long (about 31 years).
    private static let longestWait = Duration.seconds(1 << 30)

    private let state: Mutex<State>

    public init(position: UInt64 = 0) {
        state = Mutex(State(position: position))
    }

    /// The position last given to ``advance(to:)`` (or to `init`).
    public var position: UInt64 { state.withLock { $0.position } }

    /// Moves the position forward and ends every wait it reaches.
    public func advance(to position: UInt64) {
        let reached = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard position > state.position else { return [] }
            state.position = position
            return state.removeWaiters { $0.target <= position }
        }
        for continuation in reached { continuation.resume() }
    }

    /// Sets the position to `position`, lower than it was (the owner is making its read model
    /// again from the start): waits already ended stay ended, the others go on toward their
    /// targets, and waits begun now wait for positions the old read model had reached.
    public func moveBack(to position: UInt64) {
        state.withLock { state in state.position = min(state.position, position) }
    }

    /// Waits begun and not yet returned.
    public var waitCount: Int { state.withLock { $0.live.count } }

    /// Ends every wait now, reached or not (the owner stopped: the position will not move).
    /// Waits begun later still wait for their target or deadline.
    public func endAll() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            let waiting = state.waiters.values.map(\.continuation)
            state.waiters.removeAll()
            state.ended.formUnion(state.live)
            return waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Waits until the position reaches `target`, at most `timeout`; returns the position then.
    public func wait(for target: UInt64, timeout: Duration) async -> UInt64 {
        let id: UInt64? = state.withLock { state in
            guard state.position < target else { return nil }
            defer { state.nextID += 1 }
            state.live.insert(state.nextID)
            return state.nextID
        }
        guard let id else { return position }
        let deadline = ContinuousClock.now + min(max(timeout, .zero), Self.longestWait)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.position >= target || state.ended.remove(id) != nil { return true }
                    state.waiters[id] = Waiter(target: target, deadline: deadline, continuation: continuation)
                    sweep(by: deadline, in: &state)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            end(id)
        }
        return state.withLock { state in
            state.live.remove(id)
            state.ended.remove(id)
            return state.position
        }
    }

    /// Makes sure a sweeper wakes by `deadline`: starts one if there is none or if the one
    /// there sleeps past it (that one is cancelled and gives way).
    private func sweep(by deadline: ContinuousClock.Instant, in state: inout State) {
        if let sweeper = state.sweeper, sweeper.wakesAt <= deadline { return }
        state.sweeper?.task.cancel()
        state.sweepers += 1
        let generation = state.sweepers
        state.sweeper = Sweeper(
            task: Task { [self] in await sweepUntilNoWaits(generation: generation) }, generation: generation,
            wakesAt: deadline)
    }

    /// Ends the waits whose deadlines pass, sleeping until the earliest one, while there are
    /// waits and this sweeper has not given way to another.
    private func sweepUntilNoWaits(generation: UInt64) async {
        while true {
            let wakesAt = state.withLock { state -> ContinuousClock.Instant? in
                guard state.sweeper?.generation == generation else { return nil }
                guard let earliest = state.waiters.values.lazy.map(\.deadline).min() else {
                    state.sweeper = nil
                    return nil
                }
                state.sweeper?.wakesAt = earliest
                return earliest
            }
            guard let wakesAt else { return }
            do {
                try await Task.sleep(until: wakesAt, clock: .continuous)
            } catch {
                return  // given way to a sweeper that wakes earlier
            }
            let expired = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                guard state.sweeper?.generation == generation else { return [] }
                let now = ContinuousClock.now
                return state.removeWaiters { $0.deadline <= now }
            }
            for continuation in expired { continuation.resume() }
        }
    }

    /// Ends wait `id` early (its deadline, or its task cancelled), registered or not yet; a
    /// wait that returned already is left alone.
    private func end(_ id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
            if state.live.contains(id) { state.ended.insert(id) }
            return nil
        }
        waiter?.continuation.resume()
    }
}
