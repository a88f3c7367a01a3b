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
        let answer = eventLoop.makePromise(of: PostgresQueryResult.self)
        let timer = eventLoop.scheduleTask(in: Self.statementTimeout) {
            answer.fail(StatementTimedOut())
        }
        self.query(query, logger: logger).whenComplete { result in
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
    func answer(to sent: EventLoopFuture<PostgresQueryResult>) throws(EventLogError) -> PostgresQueryResult {
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
        do {
            return try decode(type)
        } catch {
            throw .storage(detail: "an unexpected row from PostgreSQL: \(String(reflecting: error))")
        }
    }

    /// The columns as `Columns`; a row of another shape is a ``EventLogError/storage(detail:)``.
    package func columns<each Column: PostgresDecodable>(_ types: (repeat each Column).Type) throws(EventLogError) -> (
        repeat each Column
    ) {
        do {
            return try decode(types)
        } catch {
            throw .storage(detail: "an unexpected row from PostgreSQL: \(String(reflecting: error))")
        }
    }
}

extension EventLogError {
    /// What a PostgreSQL failure means to a caller of the log. Server errors are named by their
    /// SQLSTATE and message, never with the statement's values (they may hold claimed keys).
    package init(postgres error: any Error, doing what: String) {
        if let error = error as? EventLogError {
            self = error
            return
        }
        guard let error = error as? PSQLError else {
            self = .storage(detail: "\(what): \(error)")
            return
        }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? "?"
            let message = error.serverInfo?[.message] ?? "no message"
            if state == "53100" {
                self = .storageFull(detail: "PostgreSQL: \(message) (SQLSTATE \(state))")
            } else {
                self = .storage(detail: "\(what): PostgreSQL: \(message) (SQLSTATE \(state))")
            }
        case .clientClosedConnection, .poolClosed:
            self = .closed
        case .connectionError:
            let cause = error.underlying.map { String(describing: $0) } ?? "no detail"
            self = .storage(detail: "\(what): cannot reach PostgreSQL: \(cause)")
        default:
            self = .storage(detail: "\(what): PostgreSQL connection: \(error.code)")
        }
    }
}
