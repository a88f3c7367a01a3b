import EventLogPostgres
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL server the tests use: `AUTHLOG_TEST_POSTGRES_URL`, as printed by
/// tools/postgres/start-throwaway.sh. `AUTHLOG_REQUIRE_POSTGRES=1` (build.sh sets it) makes
/// its absence a failure; without it, these tests are left out with a message.
enum TestPostgres {
    static let url = ProcessInfo.processInfo.environment["AUTHLOG_TEST_POSTGRES_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }
    static let isRequired = ProcessInfo.processInfo.environment["AUTHLOG_REQUIRE_POSTGRES"] == "1"
    static var isExpected: Bool { url != nil || isRequired }
    static let missing =
        "AUTHLOG_TEST_POSTGRES_URL is not set: start a server with `tools/postgres/start-throwaway.sh DIR` and export the URL it prints (build.sh test does)"

    struct Missing: Error, CustomStringConvertible {
        var description: String { TestPostgres.missing }
    }

    static func serverURL() throws -> String {
        guard let url else { throw Missing() }
        return url
    }

    /// `url` with its database replaced by `database`.
    static func url(_ url: String, database: String) -> String {
        var parts = URLComponents(string: url)!
        parts.path = "/" + database
        return parts.string!
    }

    /// Runs `sql` (one statement, outside a transaction) on `database`, or the server's own.
    @discardableResult
    static func query(_ sql: String, database: String? = nil) throws -> [PostgresRow] {
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
}

/// A database of its own (`CREATE DATABASE` with a unique name) for one test, dropped at the end.
final class TestDatabase {
    let name = "authlog_keys_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    let url: String

    init() throws {
        url = TestPostgres.url(try TestPostgres.serverURL(), database: name)
        try TestPostgres.query("CREATE DATABASE \(name)")
    }

    /// Runs `sql` in this database, as someone with access to it but not to the store's code.
    @discardableResult
    func run(_ sql: String) throws -> [PostgresRow] {
        try TestPostgres.query(sql, database: name)
    }

    /// The files that hold `table`'s rows now (every segment of its main fork), after a
    /// checkpoint wrote its pages out; `nil` when the server's data directory cannot be read
    /// from here (another machine, or another user).
    func relationFiles(_ table: String) throws -> [String]? {
        try run("CHECKPOINT")
        guard let directory = try run("SHOW data_directory").first?.decode(String.self),
            let relative = try run("SELECT pg_relation_filepath('\(table)')").first?.decode(String.self)
        else { return nil }
        let base = directory + "/" + relative
        guard FileManager.default.isReadableFile(atPath: base) else { return nil }
        var files = [base]
        var segment = 1
        while FileManager.default.fileExists(atPath: "\(base).\(segment)") {
            files.append("\(base).\(segment)")
            segment += 1
        }
        return files
    }

    deinit {
        _ = try? TestPostgres.query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

/// Whether any of `files` holds `needle`.
func anyFile(_ files: [String], contains needle: [UInt8]) -> Bool {
    files.contains { FileManager.default.contents(atPath: $0)?.range(of: Data(needle)) != nil }
}
