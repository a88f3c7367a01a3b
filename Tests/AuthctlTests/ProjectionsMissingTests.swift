import Foundation
import TestSupport
import Testing

/// A backup never depends on a derived read model, and commands that need one say plainly
/// that it is missing.
@Suite(.ownThreads) struct ProjectionsMissingTests {
    /// Export reads the log and the keys only: a directory whose projections were never built
    /// (seed writes none) still backs up, and the read commands say what is missing.
    @Test func exportNeedsNoProjectionsAndReadCommandsSayTheyAreMissing() throws {
        let scratch = try Scratch()
        let data = scratch.at("unprojected")
        #expect(try authctl(["--data", data, "seed", "--users", "5", "--events", "20"]).status == 0)
        let export = try authctl(["--data", data, "export"])
        #expect(export.status == 0, "\(export.stderr)")
        let kinds = export.stdout.split(separator: "\n").map { json($0)["kind"] as? String ?? "" }
        #expect(kinds.filter { $0 == "data_key" }.count == 5 && kinds.filter { $0 == "event" }.count == 20)
        try export.stdout.write(toFile: scratch.at("backup.jsonl"), atomically: true, encoding: .utf8)
        let restored = try authctl(
            ["--data", scratch.at("restored"), "import", scratch.at("backup.jsonl")],
            environment: ["AUTHLOG_KEK_FILE": data + "/kek"])
        #expect(restored.status == 0, "\(restored.stderr)")
        for command in [["history", "seed1@example.com"], ["users", "get", "seed1@example.com"], ["stats"]] {
            let result = try authctl(["--data", data] + command)
            #expect(result.status == (command == ["stats"] ? 0 : 2), "\(command)")  // stats shows the log
            #expect(
                result.stderr.contains("holds an event log but no projections yet")
                    && result.stderr.contains("rebuild") && !result.stderr.contains("no event log"),
                "\(command): \(result.stderr)")
        }
    }
}
