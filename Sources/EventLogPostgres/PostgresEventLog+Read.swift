import EventLog
import Foundation
import PostgresNIO

extension PostgresEventLog {
    public func readStream(_ stream: UUID, from version: UInt64) throws -> [RecordedEvent] {
        let first = Int64(clamping: max(version, 1))
        return try readers.withConnection { connection throws(EventLogError) in
            let rows = try connection.run(
                """
                SELECT position, stream_version, envelope FROM authlog.events
                WHERE stream_id = \(stream) AND stream_version >= \(first) ORDER BY stream_version
                """)
            return try rows.map { row throws(EventLogError) in
                let (position, streamVersion, envelope) = try row.columns((Int64, Int64, ByteBuffer).self)
                let recorded = try Self.recorded(envelope, at: UInt64(position))
                // The stream columns are derived: a row naming another stream's event is
                // refused, never folded into this one.
                guard recorded.streamID == stream, recorded.streamVersion == UInt64(streamVersion) else {
                    throw EventLogError.corrupt(
                        position: UInt64(position),
                        detail: "the stream columns name this event for another stream or version")
                }
                return recorded
            }
        }
    }

    public func read(from position: UInt64, limit: Int) throws -> [RecordedEvent] {
        if limit <= 0 { return [] }
        let first = Int64(clamping: max(position, 1))
        let count = Int64(limit)
        return try readers.withConnection { connection throws(EventLogError) in
            let rows = try connection.run(
                """
                SELECT position, envelope FROM authlog.events WHERE position >= \(first)
                ORDER BY position LIMIT \(count)
                """)
            return try rows.map { row throws(EventLogError) in
                let (position, envelope) = try row.columns((Int64, ByteBuffer).self)
                return try Self.recorded(envelope, at: UInt64(position))
            }
        }
    }

    public func headPosition() throws -> UInt64 {
        try readers.withConnection { connection throws(EventLogError) in try PostgresHead.read(on: connection) }
            .head.position
    }

    /// The hash of the last committed event (the genesis link for an empty log).
    public func headHash() throws -> ChainHash {
        try readers.withConnection { connection throws(EventLogError) in try PostgresHead.read(on: connection) }
            .head.hash
    }

    public func currentVersion(of stream: UUID) throws -> UInt64 {
        try readers.withConnection { connection throws(EventLogError) in
            let rows = try connection.run(
                """
                SELECT stream_version FROM authlog.events WHERE stream_id = \(stream)
                ORDER BY stream_version DESC LIMIT 1
                """)
            return try rows.first.map { row throws(EventLogError) in UInt64(try row.column(Int64.self)) } ?? 0
        }
    }

    public func owner(of key: [UInt8], in scope: String) throws -> UUID? {
        let value = ByteBuffer(bytes: key)
        return try readers.withConnection { connection throws(EventLogError) in
            let rows = try connection.run(
                "SELECT stream_id FROM authlog.claims WHERE scope = \(scope) AND key = \(value)")
            return try rows.first?.column(UUID.self)
        }
    }

    /// The stored bytes (canonical bytes then chain hash) of each event from `position`
    /// through `last`, in order: the LMDB log's stored form, for an export.
    public func forEachStoredEnvelope(
        from position: UInt64, through last: UInt64, _ body: (UInt64, [UInt8]) throws -> Void
    ) throws {
        try forEachStored(from: position, through: last) { position, _, _, envelope in
            try body(position, Array(envelope.readableBytesView))
            return true
        }
    }

    /// Walks the events from `position` through `last` a page at a time, each page on a
    /// connection of the pool, until `body` returns `false`.
    func forEachStored(
        from position: UInt64, through last: UInt64, page: Int = 4_096,
        _ body: (UInt64, UUID, UInt64, ByteBuffer) throws -> Bool
    ) throws {
        var next = max(position, 1)
        while next <= last {
            let first = Int64(clamping: next)
            let end = Int64(clamping: last)
            let count = Int64(page)
            let rows = try readers.withConnection { connection throws(EventLogError) in
                try connection.run(
                    """
                    SELECT position, stream_id, stream_version, envelope FROM authlog.events
                    WHERE position >= \(first) AND position <= \(end) ORDER BY position LIMIT \(count)
                    """)
            }
            for row in rows {
                let (position, stream, version, envelope) = try row.columns((Int64, UUID, Int64, ByteBuffer).self)
                guard try body(UInt64(position), stream, UInt64(version), envelope) else { return }
                next = UInt64(position) + 1
            }
            if rows.count < page { return }
        }
    }

    /// Parses a stored envelope, naming the position in a `corrupt` error.
    static func recorded(_ envelope: ByteBuffer, at position: UInt64) throws(EventLogError) -> RecordedEvent {
        do {
            return try envelope.withUnsafeReadableBytes { try Envelope.parse($0).recorded }
        } catch {
            throw .corrupt(position: position, detail: String(describing: error))
        }
    }
}
