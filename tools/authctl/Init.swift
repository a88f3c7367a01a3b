import ArgumentParser
import EventLog
import EventLogLMDB
import Foundation

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create an empty log in the data directory unless one is there.",
        discussion: """
            Creates the directory (mode 0700) if it is missing. An existing Authlog log is left \
            as it is; anything else (another program's LMDB files, garbage) is refused.

            With --log-url: creates the shared log's tables on PostgreSQL if they are missing \
            and leaves the data directory alone (each node makes its own copy when it starts).

            Example:
              authctl --data ./data init
              authctl --log-url postgres://authlog@db:5432/authlog init
            """)

    @ParentCommand var root: Authctl

    func run() throws {
        if let url = root.logURL {
            let shared = try openSharedLog(url, makingLog: true)
            defer { shared.close() }
            let events = try failing { try shared.headPosition() }
            print("shared log ready at \(shared.location): \(events) events")
            return
        }
        try checkDataDirectory(root.data, readOnly: false)
        let log = try failing { try LMDBEventLog(directory: root.data) }
        defer { log.close() }
        let events = try failing { try log.headPosition() }
        print("log ready in \(root.data): \(events) events")
    }
}
