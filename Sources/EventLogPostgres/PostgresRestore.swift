import EventLog
import Foundation
import PostgresNIO

/// A restore into a ``PostgresEventLog`` that commits whole or not at all: stored envelopes
/// with their checkpoints, the uniqueness claims derived from them, and (through
/// ``connection``) a key store's part in the same database, in one transaction.
///
/// Rules:
/// - Made only by ``PostgresEventLog/restoring(_:)``, which holds the head lock from the
///   first statement to COMMIT: appends from every process wait for the restore, and none
///   of it is visible before all of it is.
/// - Each ``importStored(_:checkpoints:)`` continues the head the previous one left, so a
///   large export goes in batches without a commit between them.
/// - Once a call throws, the transaction is rolled back: further calls fail.
public final class PostgresRestore {
    /// The transaction's connection, for a store in the same database to write its part.
    package let connection: PostgresConnection
    /// The database, without a password (as ``PostgresEventLog/location``).
    public let location: String
    let writer: PostgresWriter
    /// The head checkpoint the restore wrote last, handed to the writer after COMMIT.
    var signedHead: [UInt8]?

    init(connection: PostgresConnection, location: String, writer: PostgresWriter) {
        self.connection = connection
        self.location = location
        self.writer = writer
    }

    /// Writes stored envelopes as they are; see ``PostgresEventLog/importStored(_:checkpoints:)``.
    public func importStored(_ envelopes: [[UInt8]], checkpoints: [Checkpoint] = []) throws {
        if let signed = try writer.importStored(
            envelopes, checkpoints: checkpoints, on: connection, after: signedHead)
        {
            signedHead = signed
        }
    }

    /// Takes uniqueness claims without appending; see ``PostgresEventLog/restoreClaims(_:)``.
    public func restoreClaims(_ claims: [(stream: UUID, claim: UniqueClaim)]) throws {
        try Self.restoreClaims(claims, on: connection)
    }
}

extension PostgresEventLog {
    /// Runs `body` in one transaction under the head lock, on a connection of its own, and
    /// commits what it wrote when it returns; when it throws, rolls everything back and
    /// rethrows. See ``PostgresRestore``.
    public func restoring<Result>(_ body: (PostgresRestore) throws -> Result) throws -> Result {
        let connection = try server.connect()
        defer { _ = try? connection.close().wait() }
        _ = try connection.run("BEGIN")
        do {
            _ = try PostgresHead.lock(on: connection)
            let restore = PostgresRestore(connection: connection, location: location, writer: writer)
            let result = try body(restore)
            // A transaction a failed statement aborted answers COMMIT by rolling back.
            guard try connection.answer(to: connection.send("COMMIT")).metadata.command == "COMMIT" else {
                throw EventLogError.writeFailed(detail: "PostgreSQL rolled the restore back at COMMIT")
            }
            if let signed = restore.signedHead { writer.knownCheckpoint.withLock { $0 = signed } }
            return result
        } catch {
            _ = try? connection.run("ROLLBACK")
            throw error
        }
    }
}
