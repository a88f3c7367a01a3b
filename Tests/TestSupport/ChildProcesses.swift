import Foundation
import Synchronization

/// Servers a test started and has not stopped yet, killed when the test process exits.
///
/// Rules:
/// - A test's server is stopped by its owner (a deinit, an explicit stop). When a test fails,
///   Swift Testing may keep the owner alive to the end of the run, and the server with it:
///   without this list it would outlive the run, holding its port and its data directory.
/// - ``adopt(_:)`` on ``atExit`` right after `Process.run()`; ``release(_:)`` once the
///   process has ended.
/// - On a normal exit of the test process, every process still on ``atExit`` gets SIGKILL. A
///   test process killed by a signal runs no exit handler: its servers are left as before.
public final class ChildProcesses: Sendable {
    /// The list the test process's exit handler kills.
    public static let atExit = ChildProcesses(killedAtExit: true)

    /// By pid; a process is killed only while `isRunning` (Foundation reaps an ended child at
    /// once, and its pid may then be another process's).
    private let running = Mutex<[Int32: Process]>([:])

    /// A list of its own (a test of the list itself); only ``atExit`` is killed at exit.
    package init(killedAtExit: Bool = false) {
        if killedAtExit { atexit { ChildProcesses.atExit.killAll() } }
    }

    /// Lists a started process.
    public func adopt(_ process: Process) {
        let pid = process.processIdentifier
        guard pid > 0 else { return }
        running.withLock { $0[pid] = process }
    }

    /// Takes an ended (or ending) process off the list.
    public func release(_ process: Process) {
        let pid = process.processIdentifier
        running.withLock { $0[pid] = nil }
    }

    /// The processes listed now.
    public var listed: Set<Int32> { running.withLock { Set($0.keys) } }

    /// Sends SIGKILL to every listed process still running and empties the list.
    package func killAll() {
        let processes = running.withLock { processes in
            defer { processes.removeAll() }
            return Array(processes.values)
        }
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
