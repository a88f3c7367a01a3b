import EventLog
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// How to reach the database: connects, and runs statements on a connection, blocking the
/// calling thread until the answer (never call these on an event loop thread).
package final class PostgresServer: Sendable {
    package let configuration: PostgresConnection.Configuration
    package let location: String
    let logger: Logger
    private let nextID = Atomic<Int>(1)
    /// The statements prepared on each open connection, by connection and statement name. A
    /// prepared statement holds its connection, so the connection's identifier is not reused
    /// while it is here; the entry goes when the connection closes.
    private let prepared = Mutex<[ObjectIdentifier: [String: PreparedQuery]]>([:])

    package init(configuration: PostgresConnection.Configuration, location: String) {
        self.configuration = configuration
        self.location = location
        var logger = Logger(label: "authlog.eventlog.postgres")
        logger.logLevel = .critical
        self.logger = logger
    }

    /// A new connection with `synchronous_commit` on, so a commit returns once it is flushed.
    package func connect() throws(EventLogError) -> PostgresConnection {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: id, logger: logger
            ).wait()
        } catch {
            throw EventLogError(postgres: error, doing: "connecting to \(location)")
        }
        do {
            _ = try connection.run("SET synchronous_commit = on")
        } catch {
            _ = try? connection.close().wait()
            throw error
        }
        return connection
    }

    /// How many open connections have statements prepared (closed ones are forgotten).
    package var connectionsWithPreparedStatements: Int { prepared.withLock { $0.count } }

    /// `statement` as prepared on `connection`. The first time there, it is sent to be parsed
    /// and planned (after whatever was sent on the connection before it), and this waits for
    /// the answer. What a connection prepared is forgotten when it closes.
    package func prepared(_ statement: PreparedSQL, on connection: PostgresConnection) throws(EventLogError)
        -> PreparedQuery
    {
        let key = ObjectIdentifier(connection)
        if let known = prepared.withLock({ $0[key]?[statement.name] }) { return known }
        let query = try connection.answer(to: connection.guarded(connection.prepare(query: statement.sql)))
        let first = prepared.withLock { prepared in
            defer { prepared[key, default: [:]][statement.name] = query }
            return prepared[key] == nil
        }
        if first {
            connection.closeFuture.whenComplete { [weak self] _ in
                _ = self?.prepared.withLock { $0.removeValue(forKey: key) }
            }
        }
        // Closed meanwhile: its clean-up may have run before the insert above.
        if connection.isClosed { _ = prepared.withLock { $0.removeValue(forKey: key) } }
        return query
    }
}

/// A statement that commits or copies run again and again: PostgreSQL parses and plans it once
/// on each connection (a named prepared statement), then only binds and runs it. The types of
/// its parameters come from its text, so a parameter whose use does not say its type is cast
/// (`$1::bigint[]`). Binds are ``PostgresData`` in binary (``PostgresData/init(binary:)``).
package struct PreparedSQL: Sendable {
    /// Unique among the statements of one server's connections.
    package let name: String
    package let sql: String

    package init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }
}

extension PostgresData {
    /// `value` in PostgreSQL's binary form, as a bind of a prepared statement.
    package init<Value: PostgresNonThrowingEncodable>(binary value: Value) {
        var buffer = ByteBuffer()
        value.encode(into: &buffer, context: .default)
        self.init(type: Value.psqlType, formatCode: .binary, value: buffer)
    }

    /// NULL, or `value` in binary.
    package init<Value: PostgresNonThrowingEncodable>(binaryOrNull value: Value?) {
        if let value {
            self.init(binary: value)
        } else {
            self.init(type: Value.psqlType, formatCode: .binary, value: nil)
        }
    }
}

extension PostgresConnection {
    /// How long a statement may take before the log gives up on its connection: far beyond a
    /// flush, and a bound on a wait that would otherwise never end (a statement sent on a
    /// connection the server closed at that moment is never answered).
    static let statementTimeout = TimeAmount.seconds(60)

    /// Runs one statement and returns its rows; a failure is an ``EventLogError``. A statement
    /// not answered within ``statementTimeout`` closes the connection and fails.
    package func run(_ query: PostgresQuery) throws(EventLogError) -> [PostgresRow] {
        try answer(to: send(query)).rows
    }

    /// Sends one statement without waiting for it: statements sent in a row run in order, and
    /// their answers are collected with ``answer(to:)``.
    func send(_ query: PostgresQuery) -> EventLoopFuture<PostgresQueryResult> {
        guarded(self.query(query, logger: logger))
    }

    /// Sends a prepared statement with `binds` without waiting for it, as ``send(_:)`` does.
    func send(_ statement: PreparedQuery, _ binds: [PostgresData]) -> EventLoopFuture<[PostgresRow]> {
        guarded(statement.execute(binds))
    }

    /// Runs a prepared statement with `binds` and returns its rows, as ``run(_:)`` does.
    package func run(_ statement: PreparedQuery, _ binds: [PostgresData]) throws(EventLogError) -> [PostgresRow] {
        try answer(to: send(statement, binds))
    }

    /// `sent`'s answer, or a failure once ``statementTimeout`` has passed or when the
    /// connection had closed before the statement reached it.
    fileprivate func guarded<Answer: Sendable>(_ sent: EventLoopFuture<Answer>) -> EventLoopFuture<Answer> {
        let answer = eventLoop.makePromise(of: Answer.self)
        let timer = eventLoop.scheduleTask(in: Self.statementTimeout) {
            answer.fail(StatementTimedOut())
        }
        sent.whenComplete { result in
            timer.cancel()
            answer.completeWith(result)
        }
        // postgres-nio hands the statement to the event loop and drops it, unanswered, if the
        // connection closed before it got there. This runs on the loop after that hand-over:
        // a connection closed by then never answers, so the wait ends here.
        eventLoop.execute {
            if self.isClosed { answer.fail(ConnectionClosed()) }
        }
        return answer.futureResult
    }

    /// Waits for the answer to a statement ``send(_:)`` sent.
    func answer<Answer: Sendable>(to sent: EventLoopFuture<Answer>) throws(EventLogError) -> Answer {
        do {
            return try sent.wait()
        } catch is ConnectionClosed {
            throw .storage(detail: "the connection to PostgreSQL was closed")
        } catch is StatementTimedOut {
            _ = close() as EventLoopFuture<Void>
            throw .storage(
                detail: "PostgreSQL did not answer within \(Self.statementTimeout.nanoseconds / 1_000_000_000) s")
        } catch {
            throw EventLogError(postgres: error, doing: "running a statement")
        }
    }
}

/// A statement that was not answered in time.
private struct StatementTimedOut: Error {}

/// A statement sent on a connection that had closed.
private struct ConnectionClosed: Error {}

extension PostgresRow {
    /// The one column as `Column`; a row of another shape is a ``EventLogError/storage(detail:)``.
    package func column<Column: PostgresDecodable>(_ type: Column.Type) throws(EventLogError) -> Column {
        let (column) = try columns((Column).self)
        return column
    }

    /// The columns as `Columns`; a row of another shape is a ``EventLogError/storage(detail:)``.
    ///
    /// Every column is read in binary, the form postgres-nio asks the server for. The row of a
    /// prepared statement (``PreparedSQL``) says "text" of its columns, from the statement's
    /// description, though what came is binary.
    package func columns<each Column: PostgresDecodable>(_ types: (repeat each Column).Type) throws(EventLogError) -> (
        repeat each Column
    ) {
        var cells = makeIterator()
        do {
            let decoded = (repeat try Self.binary(cells.next(), as: (each Column).self))
            guard cells.next() == nil else { throw RowShape() }
            return decoded
        } catch let error as PostgresDecodingError {
            // Named without `postgresData`, the cell's bytes: they may be a key or a hash.
            throw .storage(
                detail:
                    "an unexpected row from PostgreSQL: column \(error.columnIndex) (\(error.columnName)), "
                    + "\(error.postgresType) in \(error.postgresFormat), cannot be read as \(error.targetType) "
                    + "(\(error.code))")
        } catch {
            throw .storage(detail: "an unexpected row from PostgreSQL: \(error)")
        }
    }

    private static func binary<Column: PostgresDecodable>(_ cell: PostgresCell?, as type: Column.Type) throws -> Column
    {
        guard var cell else { throw RowShape() }
        cell.format = .binary
        return try cell.decode(Column.self)
    }
}

/// A row with more or fewer columns than its reader expects.
private struct RowShape: Error, CustomStringConvertible {
    var description: String { "the row has another number of columns" }
}

extension EventLogError {
    /// What a PostgreSQL failure means to a caller of the log. Server errors are named by their
    /// SQLSTATE and message, never with the statement's values (they may hold claimed keys).
    package init(postgres error: any Error, doing what: String) {
        if let error = error as? EventLogError {
            self = error
            return
        }
        if let error = error as? PostgresError {
            self.init(postgres: error, doing: what)
            return
        }
        guard let error = error as? PSQLError else {
            self = .storage(detail: "\(what): \(error)")
            return
        }
        switch error.code {
        case .server:
            self.init(
                serverState: error.serverInfo?[.sqlState], message: error.serverInfo?[.message], doing: what)
        case .clientClosedConnection, .poolClosed:
            self = .closed
        case .connectionError:
            let cause = error.underlying.map { String(describing: $0) } ?? "no detail"
            self = .storage(detail: "\(what): cannot reach PostgreSQL: \(cause)")
        default:
            self = .storage(detail: "\(what): PostgreSQL connection: \(error.code)")
        }
    }

    /// The same for postgres-nio's older error type, which its prepared statements fail with.
    private init(postgres error: PostgresError, doing what: String) {
        switch error {
        case .server(let server):
            self.init(serverState: server.fields[.sqlState], message: server.fields[.message], doing: what)
        case .connectionClosed:
            self = .storage(detail: "\(what): the connection to PostgreSQL was closed")
        case .protocol(let detail):
            self = .storage(detail: "\(what): PostgreSQL connection: \(detail)")
        }
    }

    /// An error the server sent: by its SQLSTATE, a full disk (53100) or a storage failure.
    private init(serverState state: String?, message: String?, doing what: String) {
        let state = state ?? "?"
        let message = message ?? "no message"
        if state == "53100" {
            self = .storageFull(detail: "PostgreSQL: \(message) (SQLSTATE \(state))")
        } else {
            self = .storage(detail: "\(what): PostgreSQL: \(message) (SQLSTATE \(state))")
        }
    }
}
