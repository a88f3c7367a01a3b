import Foundation
import TestSupport
import Testing

/// The list of servers killed when the test process exits (``ChildProcesses``).
@Suite(.ownThreads)
struct ChildProcessesTests {
    static func sleeper() throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["300"]
        try process.run()
        return process
    }

    /// What the exit handler does: a listed process is killed, one taken off the list is not.
    @Test func listedProcessesAreKilledAndReleasedOnesAreNot() throws {
        let listed = try Self.sleeper()
        let released = try Self.sleeper()
        defer {
            if released.isRunning { kill(released.processIdentifier, SIGKILL) }
            released.waitForExit()
        }
        // A list of its own: killing the exit handler's list would stop other tests' servers.
        let list = ChildProcesses()
        list.adopt(listed)
        list.adopt(released)
        list.release(released)
        #expect(list.listed.contains(listed.processIdentifier))
        #expect(!list.listed.contains(released.processIdentifier))

        list.killAll()
        listed.waitForExit()
        #expect(listed.terminationReason == .uncaughtSignal && listed.terminationStatus == SIGKILL)
        #expect(released.isRunning)
        #expect(list.listed.isEmpty)
    }

    /// A server that never says where it listens fails its test after the timeout, saying
    /// so, instead of hanging the run (a start that hung did, until the run was killed).
    @Test func aServerThatNeverSaysWhereItListensFailsInsteadOfHanging() throws {
        let output = Pipe()
        let silent = Process()
        silent.executableURL = URL(fileURLWithPath: "/bin/sh")
        silent.arguments = ["-c", "echo starting; exec sleep 300"]
        silent.standardOutput = output
        try silent.run()
        defer {
            if silent.isRunning { kill(silent.processIdentifier, SIGKILL) }
            silent.waitForExit()
        }
        let (port, text) = readListeningPort(output, timeout: 1)
        #expect(port == 0)
        #expect(text.hasPrefix("starting\n") && text.contains("no listening address logged within 1 s"), "\(text)")
    }
}
