import EventLog
import EventLogLMDB
import Foundation

/// A fresh directory per test, removed when the value goes away.
final class TemporaryDirectory: Sendable {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "authlog-test-" + UUID().uuidString
    }

    /// A path inside the directory that does not exist yet.
    func child(_ name: String) -> String { path + "/" + name }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Where the package's executables are: beside the test bundle.
func productPath(_ name: String) -> String {
    let executable =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) && directory.path != "/"
    {
        directory.deleteLastPathComponent()
    }
    return directory.appendingPathComponent(name).path
}

struct ProcessOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion and collects its output.
func run(_ executable: String, _ arguments: [String]) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessOutput(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self))
}

func event(_ type: String = "TestEvent", _ text: String = "payload", actor: String = "system") -> NewEvent {
    NewEvent(
        type: type, schemaVersion: 1, metadata: EventMetadata(actor: actor, correlationID: "test"),
        payload: Array(text.utf8))
}

extension LMDBEventLog {
    /// Every event, in order.
    func all() throws -> [RecordedEvent] {
        try read(from: 1, limit: .max)
    }
}
