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
        var fields: [(String, Any)]
        if let url = root.logURL {
            // The shared log's head, and the projection of a copy caught up just now.
            let copy = try SharedCopy(root: root, url: url, needsKeys: false)
            defer { copy.close() }
            fields = try failing {
                [
                    ("log_url", copy.shared.location), ("events", Int(try copy.shared.headPosition())),
                    ("head_hash", try copy.shared.headHash().description),
                    ("copy", copy.temporary == nil ? root.data : "temporary"),
                    ("log_bytes", copy.local.environment.usedBytes), ("map_bytes", copy.local.environment.mapSize),
                ]
            }
            fields += try projectionFields(copy.projection)
        } else {
            let log = try root.openReadOnly()
            defer { log.close() }
            fields = try failing {
                [
                    ("data_directory", root.data), ("events", Int(try log.headPosition())),
                    ("head_hash", try log.headHash().description), ("log_bytes", log.environment.usedBytes),
                    ("map_bytes", log.environment.mapSize),
                ]
            }
            // Projections exist once authd (or `authctl rebuild`) has run; report them if so.
            if let stack = try? ReadStack(directory: root.data, needsKeys: false) {
                defer { stack.close() }
                fields += try projectionFields(stack.projection)
            }
        }
        try show(fields)
    }

    /// Users by role, deleted users and where the projection stands; none if it has not run.
    func projectionFields(_ projection: UserProjection) throws -> [(String, Any)] {
        guard let entry = try? projection.status() else { return [] }
        let queries = UserQueries(projection)
        var byRole: [String: Int] = [:]
        var deleted = 0
        for role in Role.allCases {
            let live = try failing { try queries.count(role: role) }
            let all = try failing { try queries.count(role: role, includeDeleted: true) }
            byRole[role.rawValue] = live
            deleted += all - live
        }
        return [
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

    func show(_ fields: [(String, Any)]) throws {
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
