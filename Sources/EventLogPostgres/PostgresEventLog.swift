import EventLog
import Foundation
import PostgresNIO
import Signatures
import Synchronization

/// The event log on a PostgreSQL database (15 or later): the same envelopes and hash chain as
/// the LMDB log, so a log exported from one imports into the other with identical bytes.
///
/// Rules it keeps, beyond the ``EventLog`` protocol's (see docs/architecture.md):
/// - Positions come from one head row (`authlog.head`) that every append transaction locks
///   and updates first, never from a sequence: a transaction becomes visible before it
///   releases that lock, so positions are dense in commit order and a reader never sees a
///   position whose predecessor is still invisible. The head row also holds the chain hash,
///   so the next transaction continues the chain without a search.
/// - Appends queue for one writer that commits whatever has queued in one transaction (group
///   commit). Each request is checked against the versions and claims as they stand once the
///   head lock is taken; only the passing ones are written. Claims are read under the lock;
///   versions too, except those the writer's own commits left while the head is still the
///   one it wrote last (no other commit can have changed them).
/// - While one commit is being flushed, the writer opens the next transaction on a second
///   connection: it waits for the head lock, so it reads only what is committed before it,
///   and its own commit follows.
/// - Every connection runs with `synchronous_commit = on`: an append returns once its commit
///   is flushed to the server's write-ahead log.
/// - Several processes may append to one database: the head lock orders them.
///
/// Reads run on a few connections of their own and block the calling thread until the
/// server answers (the ``EventLog`` protocol's reads are synchronous); they never wait for
/// the writer. ``close()`` it when done.
public final class PostgresEventLog: EventLog {
    public struct Options: Sendable {
        /// A commit takes queued appends until it holds about this many events.
        public var maximumBatchEvents: Int
        /// At most this many reads run at once, each on its own connection.
        public var readerConnections: Int
        /// Where recorded-at times come from. The log never lets them go backwards.
        public var clock: @Sendable () -> Timestamp
        /// Whether opening a database without the log's schema creates it (a node's first
        /// start), or fails with ``EventLogError/noLog(path:)`` and leaves the database as it
        /// was (a tool pointed at a database that should hold a log already).
        public var createIfMissing: Bool

        public init(
            maximumBatchEvents: Int = 8_192, readerConnections: Int = 4,
            clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() }, createIfMissing: Bool = true
        ) {
            self.maximumBatchEvents = maximumBatchEvents
            self.readerConnections = readerConnections
            self.clock = clock
            self.createIfMissing = createIfMissing
        }
    }

    package let server: PostgresServer
    let readers: ConnectionPool
    let writer: PostgresWriter
    /// The server and database, without a password: for messages.
    public let location: String
    /// Set by ``close()``, which ends the head's watches (``watchHead(_:)``): they must not keep
    /// the log alive.
    let closedSignal = CloseSignal()

    /// Connects to the database in `configuration` and creates the log's schema (`authlog`)
    /// there if it has none (with ``Options/createIfMissing`` false, fails with
    /// ``EventLogError/noLog(path:)`` instead). Fails with ``EventLogError/storage(detail:)``
    /// when the server cannot be reached, and with ``EventLogError/foreignDatabase(path:found:)`` or
    /// ``EventLogError/newerFormat(path:found:supported:)`` on a schema this build did not write.
    public init(configuration: PostgresConnection.Configuration, location: String, options: Options = Options())
        throws(EventLogError)
    {
        self.location = location
        server = PostgresServer(configuration: configuration, location: location)
        readers = ConnectionPool(server: server, limit: max(1, options.readerConnections))
        do {
            try readers.withConnection { connection throws(EventLogError) in
                try PostgresSchema.prepare(
                    on: connection, location: location, createIfMissing: options.createIfMissing)
            }
        } catch {
            readers.close()
            throw error
        }
        writer = PostgresWriter(server: server, maximumBatchEvents: options.maximumBatchEvents, clock: options.clock)
    }

    deinit {
        close()
    }

    /// Lets queued appends finish, then closes every connection. Appends and reads after it
    /// fail with ``EventLogError/closed``.
    public func close() {
        closedSignal.close()
        writer.stop()
        readers.close()
    }

    /// From now on every commit signs its head with `key` (see ``Checkpoint``), after checking
    /// that the log's head checkpoint is `key`'s and names the head. A log with events but no
    /// checkpoint (written before signing) is refused with ``EventLogError/unsignedLog(events:)``
    /// unless `adoptUnsigned`, which signs its head now. Call it before the first append.
    public func startSigning(with key: Ed25519Key, adoptUnsigned: Bool = false) throws(EventLogError) {
        try writer.startSigning(with: key, adoptUnsigned: adoptUnsigned)
    }

    /// Batches committed by the writer so far, with the appends and events they carried.
    public var groupCommitStatistics: PostgresGroupCommitStatistics { writer.statistics }

    public func append(_ requests: [AppendRequest]) async throws -> [Result<AppendResult, EventLogError>] {
        if requests.isEmpty { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            let job = PostgresWriter.Job(requests: requests, continuation: continuation)
            if !writer.submit(job) { continuation.resume(throwing: EventLogError.closed) }
        }
    }
}

/// A flag that only goes from open to closed, shared with tasks that outlive a call, and what
/// to do when it closes.
final class CloseSignal: Sendable {
    private let state = Mutex<(closed: Bool, actions: [@Sendable () -> Void])>((false, []))

    func close() {
        let actions = state.withLock { state in
            state.closed = true
            defer { state.actions = [] }
            return state.actions
        }
        for action in actions { action() }
    }

    /// Runs `action` when the signal closes, or now if it has.
    func whenClosed(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            if !state.closed { state.actions.append(action) }
            return state.closed
        }
        if now { action() }
    }
}
