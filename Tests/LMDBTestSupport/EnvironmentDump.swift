import Foundation
import LMDB
import TestSupport

/// An LMDB environment's named databases in `mdb_dump -a` text (`format=bytevalue`): a header
/// of `name=value` lines ending at `HEADER=END`, then each entry as a line of its key and a
/// line of its value, each a blank and two hex digits a byte, up to `DATA=END`. Kept as text
/// where a golden's `data.mdb` would be a database file in the repository: the entries are
/// what a release wrote, byte for byte; the pages they sat on are LMDB's, not the log's format.
public enum EnvironmentDump {
    public struct Malformed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes every database of `dump` into a new environment in `directory` (which exists),
    /// an empty database as an empty one. Refuses a dump of a database with flags (`dupsort`
    /// and the like) or of the main database, which nothing here writes.
    public static func load(_ dump: String, into directory: String) throws {
        var sections: [(name: String, entries: [([UInt8], [UInt8])])] = []
        var lines = dump.split(separator: "\n", omittingEmptySubsequences: false)[...]
        while let line = lines.popFirst() {
            guard line == "VERSION=3" else {
                if line.isEmpty, lines.allSatisfy(\.isEmpty) { break }
                throw Malformed(description: "expected VERSION=3, found \(line)")
            }
            var name: String?
            while let field = lines.popFirst(), field != "HEADER=END" {
                let (key, value) = (field.prefix { $0 != "=" }, field.drop { $0 != "=" }.dropFirst())
                switch key {
                case "database": name = String(value)
                case "format" where value == "bytevalue", "type" where value == "btree": continue
                case "mapsize", "maxreaders", "db_pagesize": continue
                default: throw Malformed(description: "an unexpected header line: \(field)")
                }
            }
            guard let name else { throw Malformed(description: "a section without a database name") }
            var entries: [([UInt8], [UInt8])] = []
            while let key = lines.popFirst(), key != "DATA=END" {
                guard let value = lines.popFirst() else { throw Malformed(description: "a key without a value") }
                entries.append((try hexLine(key), try hexLine(value)))
            }
            sections.append((name, entries))
        }
        let environment = try Environment(path: directory, options: .init(maxDatabases: 32))
        defer { environment.close() }
        let txn = try environment.beginTransaction(readOnly: false)
        for section in sections {
            guard let database = try txn.openDatabase(section.name, flags: .create) else {
                throw Malformed(description: "could not create \(section.name)")
            }
            for (key, value) in section.entries {
                try key.withUnsafeBytes { key in
                    try value.withUnsafeBytes { try txn.put(database, key: key, value: $0) }
                }
            }
        }
        try txn.commit()
    }

    /// A line of bytes: a blank, then two hex digits a byte (decoded by ``bytes(fromHex:)``).
    private static func hexLine(_ line: Substring) throws -> [UInt8] {
        guard line.first == " ", line.utf8.count % 2 == 1, line.dropFirst().allSatisfy(\.isHexDigit) else {
            throw Malformed(description: "not a line of hex bytes: \(line.prefix(40))")
        }
        return bytes(fromHex: line.dropFirst())
    }
}
