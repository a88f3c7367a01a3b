import EventLog
import PostgresNIO

/// The head row as read: the head and the stored head checkpoint's bytes, if any.
struct PostgresHead {
    var head: LogHead
    var checkpoint: [UInt8]?

    /// Reads the head row and locks it until the transaction ends: the first statement of
    /// every append transaction, so appends from every process take their positions in turn.
    static func lock(on connection: PostgresConnection) throws(EventLogError) -> PostgresHead {
        try parse(try connection.run(lockQuery))
    }

    /// The statement of ``lock(on:)``, for sending it in a row with others.
    static var lockQuery: PostgresQuery {
        "SELECT position, hash, recorded_at, checkpoint FROM authlog.head WHERE id FOR UPDATE"
    }

    /// ``lockQuery`` prepared, for the writer.
    static let lockStatement = PreparedSQL(
        name: "authlog_lock_head",
        sql: "SELECT position, hash, recorded_at, checkpoint FROM authlog.head WHERE id FOR UPDATE")

    /// ``lockStatement`` that also reads the chain hash of the event at position `$1` (NULL
    /// when the log holds none there): a head this process saw, which the log must still hold.
    static let lockAtStatement = PreparedSQL(
        name: "authlog_lock_head_at",
        sql: """
            SELECT position, hash, recorded_at, checkpoint,
                (SELECT substring(envelope FROM octet_length(envelope) - 31) FROM authlog.events
                    WHERE position = $1::bigint)
            FROM authlog.head WHERE id FOR UPDATE
            """)

    /// The head row and the chain hash ``lockAtStatement`` read (`nil`: no event there).
    static func parseWithHash(_ rows: [PostgresRow]) throws(EventLogError) -> (PostgresHead, ChainHash?) {
        guard let row = rows.first else {
            throw .corrupt(position: 0, detail: "the head row is missing")
        }
        let (position, hash, recordedAt, checkpoint, earlier) = try row.columns(
            (Int64, ByteBuffer, Int64, ByteBuffer?, ByteBuffer?).self)
        guard earlier.map({ $0.readableBytes == 32 }) ?? true else {
            throw .corrupt(position: 0, detail: "an event's envelope is shorter than its chain hash")
        }
        return (
            try PostgresHead(position: position, hash: hash, recordedAt: recordedAt, checkpoint: checkpoint),
            earlier.map { $0.withUnsafeReadableBytes { ChainHash(bytes: $0) } }
        )
    }

    /// Reads the head row without locking it.
    static func read(on connection: PostgresConnection) throws(EventLogError) -> PostgresHead {
        try read(on: connection, query: "SELECT position, hash, recorded_at, checkpoint FROM authlog.head WHERE id")
    }

    private static func read(on connection: PostgresConnection, query: PostgresQuery) throws(EventLogError)
        -> PostgresHead
    {
        try parse(try connection.run(query))
    }

    /// The head row from the rows of ``lockQuery`` (or an unlocked read of it).
    static func parse(_ rows: [PostgresRow]) throws(EventLogError) -> PostgresHead {
        guard let row = rows.first else {
            throw .corrupt(position: 0, detail: "the head row is missing")
        }
        let (position, hash, recordedAt, checkpoint) = try row.columns((Int64, ByteBuffer, Int64, ByteBuffer?).self)
        return try PostgresHead(position: position, hash: hash, recordedAt: recordedAt, checkpoint: checkpoint)
    }

    /// The head from the head row's columns.
    private init(position: Int64, hash: ByteBuffer, recordedAt: Int64, checkpoint: ByteBuffer?) throws(EventLogError) {
        guard position >= 0, hash.readableBytes == 32 else {
            throw .corrupt(position: 0, detail: "malformed head row")
        }
        self.head = LogHead(
            position: UInt64(position), hash: hash.withUnsafeReadableBytes { ChainHash(bytes: $0) },
            recordedAt: Timestamp(microsecondsSince1970: recordedAt))
        self.checkpoint = checkpoint.map { Array($0.readableBytesView) }
    }

    /// The head checkpoint, `nil` if the log has none; a malformed one is `corrupt`.
    var headCheckpoint: Checkpoint? {
        get throws(EventLogError) {
            guard let checkpoint else { return nil }
            guard let parsed = checkpoint.withUnsafeBytes({ Checkpoint(encoded: $0) }), parsed.role == .head else {
                throw .corrupt(position: 0, detail: "malformed head checkpoint record")
            }
            return parsed
        }
    }

    /// Stores an interval checkpoint (replacing one at its position).
    static func keep(_ checkpoint: Checkpoint, on connection: PostgresConnection) throws(EventLogError) {
        _ = try connection.run(keepQuery(checkpoint))
    }

    /// The statement of ``keep(_:on:)``, for sending it in a row with others.
    static func keepQuery(_ checkpoint: Checkpoint) -> PostgresQuery {
        let position = Int64(checkpoint.position)
        let encoded = ByteBuffer(bytes: checkpoint.encoded)
        return """
            INSERT INTO authlog.checkpoints (position, checkpoint) VALUES (\(position), \(encoded))
            ON CONFLICT (position) DO UPDATE SET checkpoint = excluded.checkpoint
            """
    }
}
