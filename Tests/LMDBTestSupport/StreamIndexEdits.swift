import Foundation
import LMDB

/// Edits of a log's stream index (format 2: `heads` and `links`, see docs/data-model.md) in
/// a write transaction on its environment, for tests that tamper with a log as someone who
/// can write its file would.
public enum StreamIndexEdits {
    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    /// Takes the event at `position`, its stream's last, off the index, as a careful attacker
    /// who cuts a log's tail would: its link goes, and its stream's head moves back to the
    /// event before (or goes, for the stream's first event).
    public static func unindexLast(
        _ position: UInt64, stream: UUID, version: UInt64, in txn: borrowing Transaction
    ) throws {
        guard let heads = try txn.openDatabase("heads"), let links = try txn.openDatabase("links") else {
            throw Missing(description: "the log has no heads or links database")
        }
        let previous = try withUnsafeBytes(of: position.bigEndian) { key in
            guard let link = try txn.get(links, key: key) else {
                throw Missing(description: "no link for position \(position)")
            }
            return UInt64(bigEndian: link.loadUnaligned(as: UInt64.self))
        }
        _ = try withUnsafeBytes(of: position.bigEndian) { try txn.delete(links, key: $0) }
        try withUnsafeBytes(of: stream.uuid) { key in
            if version <= 1 {
                _ = try txn.delete(heads, key: key)
            } else {
                try withHead(version: version - 1, position: previous) { try txn.put(heads, key: key, value: $0) }
            }
        }
    }

    /// Points `stream`'s head at `position` as version `version`.
    public static func setHead(
        of stream: UUID, version: UInt64, position: UInt64, in txn: borrowing Transaction
    ) throws {
        guard let heads = try txn.openDatabase("heads") else {
            throw Missing(description: "the log has no heads database")
        }
        try withUnsafeBytes(of: stream.uuid) { key in
            try withHead(version: version, position: position) { try txn.put(heads, key: key, value: $0) }
        }
    }

    private static func withHead<Result>(
        version: UInt64, position: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        var words = (version.bigEndian, position.bigEndian)
        return try withUnsafeBytes(of: &words, body)
    }
}
