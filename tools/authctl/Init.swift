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

            Example:
              authctl --data ./data init
            """)

    @ParentCommand var root: Authctl

    func run() throws {
        try checkDataDirectory(root.data, readOnly: false)
        let log = try failing { try LMDBEventLog(directory: root.data) }
        defer { log.close() }
        let events = try failing { try log.headPosition() }
        print("log ready in \(root.data): \(events) events")
    }
}
