import EventLog
import Foundation
import PostgresNIO
import Synchronization

/// The connections the log's reads run on: at most `limit` at once, opened when first
/// needed and kept open between reads. A read that finds every connection busy waits for one.
package final class ConnectionPool: Sendable {
    private struct State {
        var idle: [PostgresConnection] = []
        var closed = false
    }

    private let server: PostgresServer
    private let state = Mutex(State())
    private let slots: DispatchSemaphore

    package init(server: PostgresServer, limit: Int) {
        self.server = server
        slots = DispatchSemaphore(value: limit)
    }

    /// Runs `body` on a connection of the pool. A connection whose read failed is closed, not
    /// reused: it may be broken, and a fresh one costs little next to a failure.
    package func withConnection<Result>(_ body: (PostgresConnection) throws(EventLogError) -> Result)
        throws(EventLogError)
        -> Result
    {
        slots.wait()
        defer { slots.signal() }
        let taken = state.withLock { state -> (closed: Bool, connection: PostgresConnection?) in
            // A connection the server closed while it sat idle is dropped, not used.
            while let last = state.idle.popLast() {
                if !last.isClosed { return (state.closed, last) }
            }
            return (state.closed, nil)
        }
        if taken.closed { throw .closed }
        let connection: PostgresConnection
        if let idle = taken.connection { connection = idle } else { connection = try server.connect() }
        do {
            let result = try body(connection)
            giveBack(connection)
            return result
        } catch {
            _ = try? connection.close().wait()
            throw error
        }
    }

    private func giveBack(_ connection: PostgresConnection) {
        let keep = state.withLock { state in
            guard !state.closed && !connection.isClosed else { return false }
            state.idle.append(connection)
            return true
        }
        if !keep { _ = try? connection.close().wait() }
    }

    /// Closes the idle connections; those in use close when their read ends.
    package func close() {
        let idle = state.withLock { state in
            state.closed = true
            defer { state.idle = [] }
            return state.idle
        }
        for connection in idle { _ = try? connection.close().wait() }
    }
}
