import ArgumentParser
import EventLog
import EventLogLMDB
import Foundation

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute the hash chain; exit 1 and name the first bad position on tampering.",
        discussion: """
            Example:
              authctl --data ./data verify
              authctl --data ./data verify --from 1000 --to 2000 --json
            """)

    @ParentCommand var root: Authctl
    @Option(help: "First position to check.") var from: UInt64 = 1
    @Option(help: "Last position to check (default: the head).") var to: UInt64?
    @Flag(help: "Print one JSON object.") var json = false

    struct Report: Encodable {
        var intact: Bool
        var events: UInt64?
        var through: UInt64?
        var headHash: String?
        var brokenAt: UInt64?
        var reason: String?

        enum CodingKeys: String, CodingKey {
            case intact, events, through, reason
            case headHash = "head_hash"
            case brokenAt = "broken_at"
        }
    }

    func run() throws {
        let log = try root.openReadOnly()
        defer { log.close() }
        let outcome = try failing { try log.verify(from: from, through: to) }
        switch outcome {
        case .intact(let count, let through, let head):
            if json {
                try printJSON(Report(intact: true, events: count, through: through, headHash: head.description))
            } else {
                print("intact: \(count) events verified through position \(through), head hash \(head)")
            }
        case .broken(let failure):
            if json {
                try printJSON(Report(intact: false, brokenAt: failure.position, reason: failure.description))
            }
            printError("authctl: hash chain broken at \(failure)")
            throw ExitCode(1)
        }
    }
}
