import ArgumentParser
import DataProtection
import EventLog
import EventLogLMDB
import Foundation
import Signatures

@main
struct Authctl: AsyncParsableCommand {
    /// Keeps OpenSSL's state until exit (``OpenSSLProcess/keepStateUntilExit()``), then runs the
    /// command.
    static func main() async {
        OpenSSLProcess.keepStateUntilExit()
        await main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "authctl",
        abstract: "Operate and audit an Authlog data directory, or the shared log of a cluster.",
        discussion: """
            With --log-url, every command but mail, webhooks and credentials (which work on \
            --data only; webhooks add and test take the shared key store from it) works on the shared log on PostgreSQL: writes append \
            to it; verify, head, sign-head and export read it; users, history, as-of and stats \
            read a copy of it: the one in --data when a data directory is named (caught up \
            first), else a temporary copy removed at the end.

            Exit codes: 0 success; 1 the hash chain or a signature is broken; 2 the data \
            directory could not be used (the message says why); 3 the log is intact but \
            unsigned (verify, head); 64 bad usage.

            Example:
              authctl --data ./data verify
              authctl --log-url postgres://authlog@db:5432/authlog users list --role ADMIN
            """,
        subcommands: [
            Init.self, Stats.self, Verify.self, Head.self, SignHead.self, History.self, AsOf.self, Users.self,
            Rebuild.self, Export.self,
            Import.self, CreateAdmin.self, Seed.self, Erase.self, StripeLink.self, StripeUnlink.self, RotateKEK.self,
            WebhooksCommand.self, CredentialsCommand.self, Mail.self,
        ]
    )

    @Option(
        name: .customLong("data"),
        help: ArgumentHelp(
            "The data directory (default: $AUTHLOG_DATA or ./data).",
            discussion: "With --log-url: the copy of the shared log to read and catch up (none named: a temporary one)."
        )
    )
    var dataOption: String?

    /// The data directory: `--data`, else AUTHLOG_DATA, else ./data.
    var data: String { dataOption ?? environmentData ?? "./data" }

    /// Whether a data directory was named (`--data` or AUTHLOG_DATA) rather than defaulted:
    /// with `--log-url`, a named one holds the copy of the shared log to use and catch up,
    /// and without one a read command works on a temporary copy.
    var dataGiven: Bool { dataOption != nil || environmentData != nil }

    private var environmentData: String? {
        ProcessInfo.processInfo.environment["AUTHLOG_DATA"].flatMap { $0.isEmpty ? nil : $0 }
    }

    @Option(
        name: .customLong("log-url"),
        help:
            "The shared log on PostgreSQL, postgres://USER[:PASSWORD]@HOST:PORT/DB ($AUTHLOG_LOG_URL; default: the embedded log in --data)."
    )
    var logURLOption: String?

    /// `--log-url`, else a non-empty `AUTHLOG_LOG_URL`; nil: the embedded log.
    var logURL: String? {
        logURLOption ?? ProcessInfo.processInfo.environment["AUTHLOG_LOG_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Opens the log read-only: safe while authd writes to the same directory.
    func openReadOnly() throws -> LMDBEventLog {
        try checkDataDirectory(data, readOnly: true)
        return try failing { try LMDBEventLog(directory: data, options: .init(readOnly: true)) }
    }
}

/// Checks the data directory before anything in it is opened: a writing command tightens it
/// to 0700, and any command refuses one that others can still write (exit 2); see
/// ``SecretFile/secureDirectory(_:readOnly:)``.
func checkDataDirectory(_ directory: String, readOnly: Bool) throws {
    try failing { try SecretFile.secureDirectory(directory, readOnly: readOnly) }
}

/// Runs `body`; a thrown error becomes one line on stderr and exit code 2.
func failing<Result>(_ body: () throws -> Result) throws -> Result {
    do {
        return try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        printError("authctl: \(error)")
        throw ExitCode(2)
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// One JSON object on one line, keys sorted.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
