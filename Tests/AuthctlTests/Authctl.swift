import Foundation
import TestSupport
import Testing

/// Runs the built `authctl` (beside the test bundle) with no AUTHLOG_ variables but those
/// given, feeding `input` on stdin, in `directory` (default: this process's).
func authctl(
    _ arguments: [String], environment: [String: String] = [:], input: String? = nil, directory: String? = nil
) throws -> ProcessOutput {
    let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
    return try runProcess(
        builtProduct("authctl"), arguments, environment: inherited.merging(environment) { $1 }, input: input,
        directory: directory)
}

/// A fresh directory for one test, removed afterwards.
final class Scratch {
    let path = NSTemporaryDirectory() + "authctl-test-" + UUID().uuidString

    init() throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func at(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func json(_ line: Substring) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
}
