import Foundation
import Logging
import PostgresNIO
import PostgresTestSupport

/// A database of its own (`CREATE DATABASE` with a unique name) for one test, dropped at the end.
final class TestDatabase {
    let name: String
    let url: String

    init() throws {
        (name, url) = try TestPostgres.createDatabase(prefix: "authlog_keys")
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
        TestPostgres.dropDatabase(name)
    }
}

/// Whether any of `files` holds `needle`.
func anyFile(_ files: [String], contains needle: [UInt8]) -> Bool {
    files.contains { FileManager.default.contents(atPath: $0)?.range(of: Data(needle)) != nil }
}
