import ArgumentParser
import EventLog
import EventLogLMDB
import Foundation

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the size and head of the log.",
        discussion: """
            Example:
              authctl --data ./data stats --json
            """)

    @ParentCommand var root: Authctl
    @Flag(help: "Print one JSON object.") var json = false

    struct Report: Encodable {
        var dataDirectory: String
        var events: UInt64
        var headHash: String
        var logBytes: Int
        var mapBytes: Int

        enum CodingKeys: String, CodingKey {
            case dataDirectory = "data_directory"
            case events
            case headHash = "head_hash"
            case logBytes = "log_bytes"
            case mapBytes = "map_bytes"
        }
    }

    func run() throws {
        let log = try root.openReadOnly()
        defer { log.close() }
        let report = try failing {
            Report(
                dataDirectory: root.data, events: try log.headPosition(), headHash: try log.headHash().description,
                logBytes: log.environment.usedBytes, mapBytes: log.environment.mapSize)
        }
        if json {
            try printJSON(report)
        } else {
            print("data directory  \(report.dataDirectory)")
            print("events          \(report.events)")
            print("head hash       \(report.headHash)")
            print("log size        \(report.logBytes) bytes (map \(report.mapBytes) bytes)")
        }
    }
}
