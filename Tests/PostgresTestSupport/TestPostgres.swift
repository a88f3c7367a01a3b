import EventLogPostgres
import Foundation
import Logging
import PostgresNIO
import TestSupport

/// The PostgreSQL server the tests use: `AUTHLOG_TEST_POSTGRES_URL`, as printed by
/// tools/postgres/start-throwaway.sh. `AUTHLOG_REQUIRE_POSTGRES=1` (build.sh sets it) makes
/// its absence a failure; without it, the PostgreSQL tests are left out with a message.
public enum TestPostgres {
    public static let url = ProcessInfo.processInfo.environment["AUTHLOG_TEST_POSTGRES_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }
    public static let isRequired = ProcessInfo.processInfo.environment["AUTHLOG_REQUIRE_POSTGRES"] == "1"
    public static var isExpected: Bool { url != nil || isRequired }
    public static let missing =
        "AUTHLOG_TEST_POSTGRES_URL is not set: start a server with `tools/postgres/start-throwaway.sh DIR` and export the URL it prints (build.sh test does)"

    public struct Missing: Error, CustomStringConvertible {
        public var description: String { TestPostgres.missing }
    }

    /// The server's URL, or a failure saying how to get one.
    public static func serverURL() throws -> String {
        guard let url else { throw Missing() }
        return url
    }

    /// A database of its own on the server (a unique name), for one test; returns its URL.
    /// ``dropDatabase(_:)`` removes it.
    public static func createDatabase(prefix: String = "authlog_test") throws -> (name: String, url: String) {
        let name = prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try administer("CREATE DATABASE \(name)")
        return (name, url(try serverURL(), database: name))
    }

    /// Drops a database ``createDatabase(prefix:)`` made, closing its connections first.
    public static func dropDatabase(_ name: String) {
        try? administer("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// `url` with its database replaced by `database`.
    public static func url(_ url: String, database: String) -> String {
        var parts = URLComponents(string: url)!
        parts.path = "/" + database
        return parts.string!
    }

    /// Runs `sql` on the server's own database (CREATE / DROP DATABASE cannot run in a
    /// transaction, and not in the database they drop).
    public static func administer(_ sql: String, database: String? = nil) throws {
        _ = try query(sql, database: database)
    }

    /// The number `sql` (one row, one integer column) answers, in `database` (default: the
    /// server's own).
    public static func count(_ sql: String, database: String? = nil) throws -> Int64 {
        try query(sql, database: database).first?.decode(Int64.self) ?? -1
    }

    /// The rows `sql` (one statement, outside a transaction) answers in `database`, or in the
    /// server's own database.
    public static func query(_ sql: String, database: String?) throws -> [PostgresRow] {
        let base = try serverURL()
        let (configuration, _) = try PostgresEventLog.configuration(
            url: database.map { url(base, database: $0) } ?? base)
        var logger = Logger(label: "authlog.tests.postgres")
        logger.logLevel = .critical
        let connection = try PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: logger
        ).wait()
        defer { _ = try? connection.close().wait() }
        return try connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).wait().rows
    }

    /// A backup of `database`'s `authlog` schema as an operator takes one (`pg_dump`, custom
    /// format), written to `file`.
    public static func backUp(_ database: String, to file: String) throws {
        try runClient(
            "pg_dump", ["--format=custom", "--schema=authlog", "--file=" + file, "--dbname=" + databaseURL(database)])
    }

    /// Restores a backup ``backUp(_:to:)`` took over what `database` holds now, in one
    /// transaction, with clients still connected (`pg_restore --clean`).
    public static func restore(_ file: String, into database: String) throws {
        try runClient(
            "pg_restore",
            ["--clean", "--if-exists", "--single-transaction", "--dbname=" + databaseURL(database), file])
    }

    static func databaseURL(_ database: String) throws -> String { url(try serverURL(), database: database) }

    /// Runs a PostgreSQL client program (15's, else the one on PATH); its failure is an error
    /// with what it printed.
    static func runClient(_ program: String, _ arguments: [String]) throws {
        let versioned = "/usr/lib/postgresql/15/bin/" + program
        let process = Process()
        if FileManager.default.isExecutableFile(atPath: versioned) {
            process.executableURL = URL(fileURLWithPath: versioned)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [program] + arguments
        }
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let said = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitForExit()
        guard process.terminationStatus == 0 else {
            throw ClientFailed(
                description: "\(program) exited \(process.terminationStatus): \(String(decoding: said, as: UTF8.self))")
        }
    }

    public struct ClientFailed: Error, CustomStringConvertible {
        public var description: String
    }
}
