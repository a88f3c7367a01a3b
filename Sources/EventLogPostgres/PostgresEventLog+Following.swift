import EventLog
import Foundation
import PostgresNIO

extension PostgresEventLog: SharedEventLog {
    public func storedEnvelopes(from position: UInt64, limit: Int) throws -> [[UInt8]] {
        let first = Int64(clamping: max(position, 1))
        let count = Int64(max(limit, 0))
        let rows = try readers.withConnection { connection throws(EventLogError) in
            try connection.run(
                try server.prepared(Self.envelopesStatement, on: connection),
                [PostgresData(binary: first), PostgresData(binary: count)])
        }
        var envelopes: [[UInt8]] = []
        envelopes.reserveCapacity(rows.count)
        var expected = UInt64(first)
        for row in rows {
            let (position, envelope) = try row.columns((Int64, ByteBuffer).self)
            guard UInt64(position) == expected else {
                throw EventLogError.corrupt(position: expected, detail: "the log has no event at this position")
            }
            envelopes.append(Array(envelope.readableBytesView))
            expected += 1
        }
        return envelopes
    }

    /// Up to `$2` stored envelopes from position `$1`: what every node's copy reads after each
    /// commit, prepared.
    static let envelopesStatement = PreparedSQL(
        name: "authlog_envelopes_from",
        sql:
            "SELECT position, envelope FROM authlog.events WHERE position >= $1::bigint ORDER BY position LIMIT $2::bigint"
    )

    public func claims(of streams: Set<UUID>) throws -> [UUID: [UniqueClaim]] {
        guard !streams.isEmpty else { return [:] }
        let ids = Array(streams)
        let rows = try readers.withConnection { connection throws(EventLogError) in
            try connection.run(
                "SELECT stream_id, scope, key FROM authlog.claims WHERE stream_id = ANY(\(ids)::uuid[])")
        }
        var claims: [UUID: [UniqueClaim]] = [:]
        for row in rows {
            let (stream, scope, key) = try row.columns((UUID, String, ByteBuffer).self)
            claims[stream, default: []].append(UniqueClaim(.claim, scope: scope, key: Array(key.readableBytesView)))
        }
        return claims
    }

    /// Listens on the head's channel (see `PostgresSchema.following`) on a connection of its
    /// own. When that connection fails it yields (the head may have moved unseen), waits a
    /// second and connects again, until the log is closed or the reader stops iterating.
    public func headMoves() -> AsyncStream<Void> {
        let server = self.server
        let signal = closedSignal
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task.detached {
                while !Task.isCancelled, !signal.isClosed {
                    do {
                        let connection = try server.connect()
                        defer { _ = try? connection.close().wait() }
                        continuation.yield(())
                        for try await _ in try await connection.listen(PostgresSchema.headChannel) {
                            continuation.yield(())
                            if signal.isClosed { break }
                        }
                    } catch {
                        continuation.yield(())
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
