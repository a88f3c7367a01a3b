import ArgumentParser
import AuthDomain
import EventLog
import EventLogLMDB
import Foundation
import Projections

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the log's size and head, users by role, and where the projections stand.",
        discussion: """
            Example:
              authctl --data ./data stats --json
            """)

    @ParentCommand var root: Authctl
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let log = try root.openReadOnly()
        defer { log.close() }
        var fields: [(String, Any)] = try failing {
            [
                ("data_directory", root.data), ("events", Int(try log.headPosition())),
                ("head_hash", try log.headHash().description), ("log_bytes", log.environment.usedBytes),
                ("map_bytes", log.environment.mapSize),
            ]
        }
        // Projections exist once authd (or `authctl rebuild`) has run; report them if so.
        if let stack = try? ReadStack(directory: root.data, needsKeys: false),
            let entry = try? stack.projection.status()
        {
            defer { stack.close() }
            var byRole: [String: Int] = [:]
            var deleted = 0
            for role in Role.allCases {
                let live = try failing { try stack.queries.count(role: role) }
                let all = try failing { try stack.queries.count(role: role, includeDeleted: true) }
                byRole[role.rawValue] = live
                deleted += all - live
            }
            fields += [
                ("users_by_role", byRole), ("deleted_users", deleted),
                (
                    "projections",
                    [
                        UserProjection.name: [
                            "version": Int(entry.version), "checkpoint": Int(entry.checkpoint),
                            "generation": entry.generation,
                        ]
                    ]
                ),
            ]
        }
        if json {
            print(try jsonLine(fields))
        } else {
            for (name, value) in fields {
                if let projections = value as? [String: [String: Int]] {
                    let text = projections.sorted { $0.key < $1.key }.map {
                        "\($0.key): version \($0.value["version"] ?? 0), checkpoint \($0.value["checkpoint"] ?? 0)"
                    }.joined(separator: "; ")
                    print(name.padding(toLength: 16, withPad: " ", startingAt: 0) + text)
                } else if let nested = value as? [String: Any] {
                    let text = nested.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                    print(name.padding(toLength: 16, withPad: " ", startingAt: 0) + text)
                } else {
                    print(name.padding(toLength: 16, withPad: " ", startingAt: 0) + "\(value)")
                }
            }
        }
    }
}
