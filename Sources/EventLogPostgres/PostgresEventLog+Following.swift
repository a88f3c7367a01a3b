import EventLog
import Foundation
import PostgresNIO
import Synchronization

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

    /// Tells `news` of each batch the writer commits, on the writer's thread: before its
    /// COMMIT is sent, then after the server acknowledged it (before any of its appends
    /// returns), or when the batch failed after it was announced.
    public func whenCommitted(_ news: @escaping @Sendable (CommitNews) -> Void) {
        writer.news.withLock { $0 = PostgresWriter.NewsHandler(news) }
    }

    /// Listens on the head's channel (see `PostgresSchema.following`) on a connection of its
    /// own, and calls `moved` from that connection's event loop at each notification, with
    /// the head position it carries: no task stands between the notification and the
    /// follower. It also calls `moved(nil)` once the server has confirmed `LISTEN` (a commit
    /// after that is heard) and when the connection fails (the head may have moved unseen);
    /// then it waits a second and connects again, until the watch is stopped or the log closed.
    public func watchHead(_ moved: @escaping @Sendable (UInt64?) -> Void) -> HeadWatch {
        let server = self.server
        let watching = HeadWatching(moved)
        closedSignal.whenClosed { watching.stop() }
        let task = Task.detached {
            while !watching.isStopped {
                do {
                    let connection = try server.connect()
                    guard watching.adopt(connection) else {
                        try? await connection.close().get()
                        break
                    }
                    connection.addListener(channel: PostgresSchema.headChannel) { _, notification in
                        watching.call(UInt64(notification.payload))
                    }
                    // Sent after the listener's own LISTEN: once it is answered, both were.
                    _ = try connection.run(PostgresQuery(unsafeSQL: "LISTEN \(PostgresSchema.headChannel)"))
                    watching.call(nil)
                    try? await connection.closeFuture.get()
                } catch {
                    // Not connected: looked at again below, and tried again in a second.
                }
                watching.call(nil)
                if watching.isStopped { break }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        return HeadWatch {
            watching.stop()
            task.cancel()
        }
    }
}

/// One watch of the head: its handler, called until it is stopped, and the connection it
/// listens on, closed when it is.
final class HeadWatching: Sendable {
    private let moved: @Sendable (UInt64?) -> Void
    private let state = Mutex<(stopped: Bool, connection: PostgresConnection?)>((false, nil))

    init(_ moved: @escaping @Sendable (UInt64?) -> Void) {
        self.moved = moved
    }

    var isStopped: Bool { state.withLock { $0.stopped } }

    /// Calls the handler unless the watch was stopped.
    func call(_ position: UInt64?) {
        if !isStopped { moved(position) }
    }

    /// Takes `connection` as the one listened on; `false` if the watch was stopped meanwhile.
    func adopt(_ connection: PostgresConnection) -> Bool {
        state.withLock { state in
            guard !state.stopped else { return false }
            state.connection = connection
            return true
        }
    }

    func stop() {
        let connection = state.withLock { state in
            state.stopped = true
            return state.connection.take()
        }
        // Closed without waiting: a stop may come from the connection's own event loop.
        if let connection { let _: EventLoopFuture<Void> = connection.close() }
    }
}
