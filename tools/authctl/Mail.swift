import ArgumentParser
import AuthService
import Foundation

struct Mail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The outbox: mail waiting for delivery and mail given up on.",
        discussion: """
            authd writes each message to DATA/maildir/new first; with --smtp-url its delivery \
            worker sends it and removes it once the server accepted it. A message refused for \
            good (5xx), or still failing when its retry period ends, moves to DATA/maildir/failed \
            with the reason. Safe while authd runs: a retried message goes out within a second.

            Example:
              authctl --data ./data mail list
              authctl --data ./data mail retry --all
            """,
        subcommands: [List.self, Retry.self])

    @ParentCommand var root: Authctl

    func outbox() throws -> MaildirMailer {
        let directory = root.data + "/maildir"
        guard FileManager.default.fileExists(atPath: directory) else {
            printError("authctl: no outbox at \(directory)")
            throw ExitCode(2)
        }
        return try failing { try MaildirMailer(directory: directory) }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List waiting and failed mail: state, name, queued time, recipient, subject, reason.",
            discussion: """
                Example:
                  authctl --data ./data mail list --failed
                """)

        @ParentCommand var mail: Mail
        @Flag(help: "Only the failed messages.") var failed = false
        @Flag(help: "One JSON object a line.") var json = false

        func run() throws {
            let formatter = ISO8601DateFormatter()
            for entry in try mail.outbox().entries() where !failed || entry.state == .failed {
                let queued = formatter.string(from: entry.queuedAt)
                if json {
                    var fields: [(String, Any)] = [
                        ("state", entry.state.rawValue), ("name", entry.name), ("queued_at", queued),
                        ("to", entry.recipient), ("subject", entry.subject),
                    ]
                    if let reason = entry.reason { fields.append(("reason", reason)) }
                    print(try jsonLine(fields))
                } else {
                    let reason = entry.reason.map { "  \($0)" } ?? ""
                    print(
                        "\(entry.state.rawValue)  \(entry.name)  \(queued)  \(entry.recipient)  \(entry.subject)\(reason)"
                    )
                }
            }
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue failed messages again (their retry period starts anew).",
            discussion: """
                Example:
                  authctl --data ./data mail retry 1764652800.019345678.0193f1c2-....authlog
                  authctl --data ./data mail retry --all
                """)

        @ParentCommand var mail: Mail
        @Argument(help: "Names from `mail list`.") var names: [String] = []
        @Flag(help: "Every failed message.") var all = false

        func run() throws {
            guard all != !names.isEmpty else {
                printError("authctl: name the messages to retry, or say --all")
                throw ExitCode(64)
            }
            let moved: [String]
            do {
                moved = try mail.outbox().retry(all ? [] : names)
            } catch let error as OutboxError {
                printError("authctl: \(error)")
                throw ExitCode(2)
            }
            print("queued \(moved.count) message\(moved.count == 1 ? "" : "s") again")
        }
    }
}
