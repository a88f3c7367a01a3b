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
/// - A part that throws (a check of this code's, or a statement PostgreSQL refused) marks the
///   restore failed: further parts fail at once, and ``PostgresEventLog/restoring(_:)`` rolls
///   everything back even when its body catches the error and returns.
public final class PostgresRestore {
    /// The transaction's connection (parts reach it through ``part(_:)``).
    let connection: PostgresConnection
    /// The database, without a password (as ``PostgresEventLog/location``).
    public let location: String
    let writer: PostgresWriter
    /// The head checkpoint the restore wrote last, handed to the writer after COMMIT.
    var signedHead: [UInt8]?
    /// Set by the first part that threw.
    private(set) var failed = false

    init(connection: PostgresConnection, location: String, writer: PostgresWriter) {
        self.connection = connection
        self.location = location
        self.writer = writer
    }

    /// Writes stored envelopes as they are; see ``PostgresEventLog/importStored(_:checkpoints:)``.
    public func importStored(_ envelopes: [[UInt8]], checkpoints: [Checkpoint] = []) throws {
        try part { connection in
            if let signed = try writer.importStored(
                envelopes, checkpoints: checkpoints, on: connection, after: signedHead)
            {
                signedHead = signed
            }
        }
    }

    /// Takes uniqueness claims without appending; see ``PostgresEventLog/restoreClaims(_:)``.
    public func restoreClaims(_ claims: [(stream: UUID, claim: UniqueClaim)]) throws {
        try part { connection in try Self.restoreClaims(claims, on: connection) }
    }

    /// Runs one part of the restore on its transaction (a store in the same database writes its
    /// part through this); see the type's rules for a part that throws.
    package func part<Result>(_ body: (PostgresConnection) throws -> Result) throws -> Result {
        guard !failed else {
            throw EventLogError.writeFailed(detail: "an earlier part of the restore failed; it will be rolled back")
        }
        do {
            return try body(connection)
        } catch {
            failed = true
            throw error
        }
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
            if restore.failed {
                throw EventLogError.writeFailed(detail: "a part of the restore failed; nothing of it was written")
            }
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
