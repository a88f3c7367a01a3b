import Synchronization

/// Wakes whoever waits for the log to move (event streams, webhook deliveries) when a write
/// this server made was committed and reached the read model.
///
/// Rules:
/// - ``notify()`` moves the generation on and wakes every waiter at once.
/// - ``wait(after:timeout:)`` returns as soon as the generation is past `seen`, at the
///   latest after `timeout`, or when the task is cancelled; it never blocks a thread.
/// - Writes this server did not make (authctl, another node) do not notify: waiters also
///   look again after their timeout.
public final class CommitSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    /// The current generation: pass it to ``wait(after:timeout:)`` before looking at the log.
    public var generation: UInt64 { state.withLock { $0.generation } }

    public func notify() {
        let waiters = state.withLock { state in
            state.generation += 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    public func wait(after seen: UInt64, timeout: Duration) async {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitUntilNotified(after: seen, id: id) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitUntilNotified(after seen: UInt64, id: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    // A cancellation that came first already set the flag: never park then.
                    if state.generation > seen || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
