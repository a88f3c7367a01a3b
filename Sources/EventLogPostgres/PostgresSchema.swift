import EventLog
import PostgresNIO

/// The log's tables, in the schema `authlog` (see docs/architecture.md):
///
/// - `meta (key, value)`: `format` -> `authlog.eventlog/1`, the layout this build reads.
/// - `head`: one row, locked and rewritten by every append transaction: the last position,
///   its chain hash and recorded-at time, and the signed head ``Checkpoint`` if the log signs.
/// - `events (position, stream_id, stream_version, envelope)`: the envelope is the stored form
///   of the LMDB log (canonical bytes then the 32-byte chain hash); the stream columns are
///   derived from it, for reading a stream (unique per stream and version).
/// - `claims (scope, key, stream_id)`: uniqueness claims, primary key (scope, key).
/// - `checkpoints (position, checkpoint)`: interval ``Checkpoint``s of a signing log.
package enum PostgresSchema {
    static let formatName = "authlog.eventlog"
    static let formatVersion = 1
    static var formatMarker: String { "\(formatName)/\(formatVersion)" }
    /// Serialises schema creation between processes that open one database at once.
    package static let creationLock: Int64 = 0x6175_7468_6c6f_6701

    /// Creates the schema if it is missing (or, with `createIfMissing` false, fails with
    /// ``EventLogError/noLog(path:)`` and leaves the database as it was) and checks its format
    /// marker.
    package static func prepare(
        on connection: PostgresConnection, location: String, createIfMissing: Bool = true
    ) throws(EventLogError) {
        _ = try connection.run("BEGIN")
        do throws(EventLogError) {
            _ = try connection.run("SELECT pg_advisory_xact_lock(\(creationLock))")
            // pg_tables lists every table, not only those this role may use (as
            // information_schema does): a role without grants is not told there is no log.
            let existing = try connection.run("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'authlog'")
            let tables = try existing.first?.column(Int64.self) ?? 0
            if tables == 0 {
                guard createIfMissing else { throw .noLog(path: location) }
                for statement in creation { _ = try connection.run(PostgresQuery(unsafeSQL: statement)) }
                _ = try connection.run(
                    "INSERT INTO authlog.meta (key, value) VALUES ('format', \(formatMarker))")
            }
            let marker = try connection.run("SELECT value FROM authlog.meta WHERE key = 'format'").first?.column(
                String.self)
            if marker == formatMarker {
                for statement in following { _ = try connection.run(PostgresQuery(unsafeSQL: statement)) }
            }
            _ = try connection.run("COMMIT")
            try check(marker, location: location)
        } catch {
            _ = try? connection.run("ROLLBACK")
            if case .storage(let detail) = error, detail.contains("SQLSTATE 42P01") {
                throw .foreignDatabase(path: location, found: "a schema authlog without the log's tables")
            }
            throw error
        }
    }

    private static func check(_ marker: String?, location: String) throws(EventLogError) {
        guard let marker else {
            throw .foreignDatabase(path: location, found: "a schema authlog with no format marker")
        }
        if marker == formatMarker { return }
        let prefix = formatName + "/"
        if marker.hasPrefix(prefix), let version = Int(marker.dropFirst(prefix.count)), version > formatVersion {
            throw .newerFormat(path: location, found: marker, supported: formatMarker)
        }
        throw .foreignDatabase(path: location, found: marker)
    }

    /// What followers of the log need, added to a log of this format if it lacks them: the
    /// claims by stream (a copy takes a stream's claims with its events), and a notification on
    /// channel ``headChannel`` with the new head position at every commit (a trigger on the head
    /// row, so no writer can forget it; delivered when the transaction commits).
    static let following = [
        "CREATE INDEX IF NOT EXISTS claims_by_stream ON authlog.claims (stream_id)",
        """
        CREATE OR REPLACE FUNCTION authlog.notify_head() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('\(headChannel)', NEW.position::text); RETURN NULL; END $$
        """,
        """
        CREATE OR REPLACE TRIGGER head_moved AFTER UPDATE ON authlog.head
        FOR EACH ROW EXECUTE FUNCTION authlog.notify_head()
        """,
    ]

    /// The channel a commit notifies (``following``).
    static let headChannel = "authlog_head"

    static let creation = [
        "CREATE SCHEMA IF NOT EXISTS authlog",
        "CREATE TABLE authlog.meta (key text PRIMARY KEY, value text NOT NULL)",
        """
        CREATE TABLE authlog.head (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            position bigint NOT NULL CHECK (position >= 0),
            hash bytea NOT NULL CHECK (length(hash) = 32),
            recorded_at bigint NOT NULL,
            checkpoint bytea)
        """,
        "INSERT INTO authlog.head (position, hash, recorded_at) VALUES (0, decode(repeat('00', 32), 'hex'), 0)",
        """
        CREATE TABLE authlog.events (
            position bigint PRIMARY KEY CHECK (position >= 1),
            stream_id uuid NOT NULL,
            stream_version bigint NOT NULL CHECK (stream_version >= 1),
            envelope bytea NOT NULL,
            UNIQUE (stream_id, stream_version))
        """,
        """
        CREATE TABLE authlog.claims (
            scope text NOT NULL,
            key bytea NOT NULL,
            stream_id uuid NOT NULL,
            PRIMARY KEY (scope, key))
        """,
        "CREATE TABLE authlog.checkpoints (position bigint PRIMARY KEY, checkpoint bytea NOT NULL)",
    ]
}
