import Foundation

extension Process {
    /// Waits until the process has exited, asleep.
    ///
    /// Foundation's `waitUntilExit()` runs the calling thread's run loop until the process has
    /// gone, and the run loop of a thread with nothing attached to it (any thread of
    /// ``TestThreads``, or of the cooperative pool) returns at once: each waiting thread spun
    /// a core, taking it from the very processes being waited for (a CI run went at a third
    /// of its speed).
    public func waitForExit() {
        let exited = DispatchSemaphore(value: 0)
        terminationHandler = { _ in exited.signal() }
        // The handler is called only if set before the exit is seen: the timed wait looks
        // again in case it came first.
        while isRunning { _ = exited.wait(timeout: .now() + .milliseconds(100)) }
    }
}
