import Foundation

/// Wake-ups for one waiting thread: any number of ``signal()``s before it waits again count
/// as one; ``stop()`` ends its waiting for good.
final class WakeSignal: @unchecked Sendable {
    // Every field is read and written under `condition`'s lock.
    private let condition = NSCondition()
    private var pending = false
    private var stopped = false

    func signal() {
        condition.lock()
        pending = true
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// Waits for a ``signal()`` (one already given counts) or for `timeout` to pass; `false`
    /// once ``stop()`` was called.
    func wait(atMost timeout: Duration) -> Bool {
        let deadline = Date(
            timeIntervalSinceNow: Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while !pending, !stopped {
            if !condition.wait(until: deadline) { break }
        }
        pending = false
        return !stopped
    }
}
