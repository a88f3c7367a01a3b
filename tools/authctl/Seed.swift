import ArgumentParser
import AuthService
import DataProtection
import EventLog
import EventLogLMDB
import Foundation

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append a generated, realistic history for benchmarks and demos.",
        discussion: """
            Users register and verify, then log in, rotate tokens, change profiles and roles, ask \
            for resets, log out, get deleted and restored. No seeded user can sign in: their \
            password is random, drawn for the run and never shown. Seed refuses a directory that \
            holds anything it did not write (real users) unless given --force. Run `authctl \
            rebuild` afterwards to build the projections. With --log-url, into the shared log.

            Example:
              authctl --data ./bench seed --users 1000000 --events 10000000
            """)

    @ParentCommand var root: Authctl
    @Option(help: "New users to create.") var users: Int = 1_000
    @Option(help: "Events to append in all (at least three per user).") var events: Int = 10_000
    @Flag(help: "Seed even into a directory that holds events seed did not write.") var force = false

    func run() async throws {
        guard users > 0, events >= 3 * users else {
            printError("authctl: --users must be positive and --events at least three times --users")
            throw ExitCode(64)
        }
        // A map big enough from the start: growing it aborts and redoes a whole window's
        // transaction each time, about ten times on the way to a few gigabytes. The file itself
        // still grows only as pages are written.
        if let url = root.logURL { return try await seedShared(url) }
        let mapSize = 64 << 20 + events * 512
        try checkDataDirectory(root.data, readOnly: false)
        let log = try failing { try LMDBEventLog(directory: root.data, options: .init(initialMapSize: mapSize)) }
        defer { log.close() }
        let seededBefore = try scanExisting(head: try failing { try log.headPosition() }) { head, body in
            try log.forEachStoredEnvelope(from: 1, through: head) { position, stored in try body(position, stored) }
        }
        let keys = try failing { try KeyStore(dataDirectory: root.data) }
        reportRepairs(keys)
        try startSigning(log, keys: keys)
        try await run(Seeder(log: log, keys: keys), firstNumber: seededBefore)
    }

    /// Seeds the shared log (`--log-url`), with the data keys in ``openSharedKeys(_:readOnly:mayGenerateKey:)``.
    func seedShared(_ url: String) async throws {
        let log = try openSharedLog(url)
        defer { log.close() }
        let seededBefore = try scanExisting(head: try failing { try log.headPosition() }) { head, body in
            try log.forEachStoredEnvelope(from: 1, through: head) { position, stored in
                try stored.withUnsafeBytes { try body(position, $0) }
            }
        }
        let keys = try openSharedKeys(root)
        guard let signingKey = keys.logSigningKey else {
            printError("authctl: no key-encryption key: writing to the log needs it to sign")
            throw ExitCode(2)
        }
        try failing { try log.startSigning(with: signingKey) }
        try await run(Seeder(log: log, keys: keys), firstNumber: seededBefore)
    }

    func run(_ seeder: Seeder, firstNumber seededBefore: Int) async throws {
        let started = Date()
        let report: Seeder.Report
        do {
            report = try await seeder.seed(
                users: users, events: events, firstNumber: seededBefore
            ) { written, total in
                let rate = Double(written) / max(Date().timeIntervalSince(started), 0.001)
                printError(String(format: "seed: %d of %d events, %.0f events/s", written, total, rate))
            }
        } catch {
            printError("authctl: seed stopped (what it appended before stays; run it again to go on): \(error)")
            throw ExitCode(2)
        }
        print(
            String(
                format: "seeded %d users, %d events in %.1f s (%.0f events/s)", report.users, report.events,
                report.seconds,
                Double(report.events) / report.seconds))
    }
}
