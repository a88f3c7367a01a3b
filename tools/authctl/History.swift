import ArgumentParser
import AuthDomain
import EventLog
import Foundation
import Projections

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a user's audit trail: every event with its position, time, actor and changes.",
        discussion: """
            Secrets never appear: a changed password or token shows as "changed". An erased user's \
            trail keeps every event's type, time and actor; their personal values are gone.

            Example:
              authctl --data ./data history alice@example.com
              authctl --data ./data history 0193f1c2-7d4e-7a10-9b1e-3c5d7e9f1a2b --json
            """)

    @ParentCommand var root: Authctl
    @Argument(help: "The user: an id or an email address.") var user: String
    @Flag(help: "One JSON object a line.") var json = false

    func run() throws {
        let stack = try ReadStack(root: root)
        defer { stack.close() }
        let id = try stack.resolve(user)
        let trail = try failing { try stack.queries.auditTrail(id: id) }
        guard !trail.isEmpty else {
            printError("authctl: no user \(user)")
            throw ExitCode(2)
        }
        for entry in trail {
            if json {
                print(
                    try jsonLine([
                        ("position", Int(entry.position)), ("recorded_at", entry.recordedAt.description),
                        ("type", entry.type),
                        ("actor", entry.actor), ("correlation_id", entry.correlationID), ("changes", entry.changes),
                    ]))
            } else {
                let changes = entry.changes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: " ")
                print(
                    "\(String(entry.position).leftPad(8))  \(entry.recordedAt)  \(entry.type.padding(toLength: 26, withPad: " ", startingAt: 0))  \(entry.actor.rightPad(36))  \(changes)"
                )
            }
        }
    }
}

struct AsOf: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "as-of",
        abstract: "Show a user as they were at a time (RFC 3339) or a log position.",
        discussion: """
            Example:
              authctl --data ./data as-of alice@example.com 2026-03-01T00:00:00Z
              authctl --data ./data as-of alice@example.com 1200 --json
            """)

    @ParentCommand var root: Authctl
    @Argument(help: "The user: an id or an email address.") var user: String
    @Argument(help: "An RFC 3339 time (UTC) or a log position.") var moment: String
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        guard let when = ReadMoment(parsing: moment) else {
            printError("authctl: '\(moment)' is neither a position nor an RFC 3339 time like 2026-03-01T00:00:00Z")
            throw ExitCode(64)
        }
        let stack = try ReadStack(root: root)
        defer { stack.close() }
        let id = try stack.resolve(user)
        guard let state = try failing({ try stack.queries.user(id: id, asOf: when) }) else {
            printError("authctl: \(user) did not exist at \(moment)")
            throw ExitCode(2)
        }
        if json { print(try jsonLine(userFields(state))) } else { printFields(userFields(state)) }
    }
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
    /// Padded to `width` on the right; a longer text (a credential's actor) is never cut.
    func rightPad(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
