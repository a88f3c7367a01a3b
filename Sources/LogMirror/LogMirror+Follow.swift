import EventLog
import Foundation

extension LogMirror {
    /// Copies whenever the shared log's head moves (its notifications), when ``wake()`` is
    /// called, and every ``pollInterval`` in any case, until the task is cancelled or the
    /// mirror stops. A failure to reach the shared log is logged and retried at the next wake.
    ///
    /// The copies run on a thread of the mirror's own (`log-mirror`), which a wake-up reaches
    /// directly: the shared log's reads and LMDB's commit block, and a wake-up that went
    /// through the concurrency pool first would cost a thread switch or two per copy.
    public func follow() async {
        let watch = shared.watchHead { [wakeUps] in wakeUps.signal() }
        defer { watch.stop() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let thread = Thread { [self] in
                    nameCurrentThread("log-mirror")
                    copyUntilStopped()
                    continuation.resume()
                }
                thread.start()
            }
        } onCancel: {
            wakeUps.stop()
        }
    }

    /// ``follow()``'s thread: a copy at each wake-up, and at least once a poll interval, which
    /// also writes a copy opened with deferred sync to disk.
    private func copyUntilStopped() {
        var synced = ContinuousClock.now
        var lastError = ""
        while wakeUps.wait(atMost: Self.pollInterval) {
            if ContinuousClock.now - synced >= Self.pollInterval {
                // A copy opened with deferred sync reaches the disk here, once a poll interval.
                try? local.sync()
                synced = .now
            }
            do {
                try catchUp()
                lastError = ""
            } catch let failure as Failure where divergence == .stop {
                logger.error("the node stopped following the shared log", metadata: ["reason": "\(failure)"])
                return
            } catch {
                let text = "\(error)"
                if text != lastError {
                    logger.warning("cannot copy the shared log; retrying", metadata: ["error": "\(text)"])
                    lastError = text
                }
            }
        }
    }
}

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
