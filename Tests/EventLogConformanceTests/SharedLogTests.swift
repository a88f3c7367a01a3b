import EventLog
import EventLogPostgres
import Foundation
import PostgresTestSupport
import Synchronization
import TestSupport
import Testing

/// What a node following a shared log relies on (``SharedEventLog``): the stored bytes in
/// order without gaps, each stream's claims, and a signal after every commit (the log's
/// "subscribe"), including commits by another process.
@Suite(.ownThreads, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct SharedLogTests {
    @Test func storedEnvelopesAreTheStoredBytesFromAPositionOn() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let log = try PostgresEventLog(url: store.url)
        defer { log.close() }
        let stream = UUID()
        for index in 0..<10 { _ = try await log.append([event("E", "payload \(index)")], to: stream, expecting: .any) }
        var stored: [[UInt8]] = []
        try log.forEachStoredEnvelope(from: 1, through: 10) { _, bytes in stored.append(bytes) }
        #expect(try log.storedEnvelopes(from: 1, limit: 100) == stored)
        #expect(try log.storedEnvelopes(from: 4, limit: 3) == Array(stored[3..<6]))
        #expect(try log.storedEnvelopes(from: 11, limit: 5).isEmpty)
    }

    @Test func claimsOfStreamsAreTheOnesTheyHoldNow() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let log = try PostgresEventLog(url: store.url)
        defer { log.close() }
        let (first, second, none) = (UUID(), UUID(), UUID())
        _ = try await log.append([
            AppendRequest(
                stream: first, expected: .noStream, events: [event()],
                claims: [UniqueClaim(.claim, scope: "email", key: [1]), UniqueClaim(.claim, scope: "stripe", key: [2])]),
            AppendRequest(
                stream: second, expected: .noStream, events: [event()],
                claims: [UniqueClaim(.claim, scope: "email", key: [3])]),
        ])
        _ = try await log.append([
            AppendRequest(
                stream: first, expected: .any, events: [event()],
                claims: [UniqueClaim(.release, scope: "stripe", key: [2])])
        ])
        let claims = try log.claims(of: [first, second, none])
        #expect(claims[first] == [UniqueClaim(.claim, scope: "email", key: [1])])
        #expect(claims[second] == [UniqueClaim(.claim, scope: "email", key: [3])])
        #expect(claims[none] == nil)
    }

    /// A cell that cannot be read as its column's type is a typed storage error naming the
    /// column and the types, never with the cell's bytes: a cell may hold a wrapped key, a
    /// token's hash or a sealed field, and the detail reaches logs and answers.
    @Test func aCellThatCannotBeReadIsNamedWithoutItsBytes() throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let log = try PostgresEventLog(url: store.url)
        defer { log.close() }
        let connection = try log.server.connect()
        defer { _ = try? connection.close().wait() }
        let rows = try connection.run("SELECT '\\xdeadbeefcafe0123'::bytea AS secret")
        #expect {
            _ = try rows.first?.column(Bool.self)
        } throws: { error in
            guard case .storage(let detail) = error as? EventLogError else { return false }
            let hex = ["de ad be ef", "deadbeef", "222, 173, 190, 239", "0xde"]
            return detail.contains("secret") && hex.allSatisfy { !detail.lowercased().contains($0) }
        }
    }

    /// The writer calls the `whenCommitted` handler through the same frames at every commit:
    /// nothing wraps it anew between calls, so a node's thousandth commit costs what its first
    /// did and its millionth does not overflow the writer's stack.
    @Test func theCommitHandlerIsCalledAtTheSameDepthAtEveryCommit() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let log = try PostgresEventLog(url: store.url)
        defer { log.close() }
        let depths = Mutex<[Int]>([])
        log.whenCommitted { news in
            if case .committed = news { depths.withLock { $0.append(Thread.callStackSymbols.count) } }
        }
        let stream = UUID()
        for index in 0..<12 { _ = try await log.append([event("E", "payload \(index)")], to: stream, expecting: .any) }
        let seen = depths.withLock { $0 }
        #expect(seen.count == 12)
        #expect(Set(seen).count == 1, "stack depths at each commit: \(seen)")
    }

    /// A watch hears every commit made through another log object (as another node would
    /// make it) once it made its first call: that call comes after the server confirmed
    /// `LISTEN`, so no commit is made between them and missed.
    @Test func aWatchHearsEachCommitByAnotherProcessAfterItsFirstCall() async throws {
        try await Self.withAWatch { _, writer, calls in
            for position in 1...3 as ClosedRange<UInt64> {
                _ = try await writer.append([event()], to: UUID(), expecting: .noStream)
                #expect(await calls.reach(1 + position), "commit \(position) was not heard")
                #expect(calls.positions.contains(position), "the notification did not name the head it moved to")
            }
        }
    }

    /// Closing the log ends its watches: their connection goes.
    @Test func closingTheLogEndsItsWatch() async throws {
        try await Self.withAWatch { follower, other, _ in
            let connection = try other.server.connect()
            func listening() throws -> Int64 {
                try connection.run(
                    """
                    SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND query = 'LISTEN authlog_head'
                    """
                ).first?.column(Int64.self) ?? -1
            }
            do {
                #expect(try listening() == 1)
                follower.close()
                // A bounded poll on a real condition: the server sees the connection go.
                for _ in 0..<300 where try listening() > 0 { try await Task.sleep(for: .milliseconds(100)) }
                #expect(try listening() == 0)
            } catch {
                _ = try? await connection.close().get()
                throw error
            }
            try await connection.close().get()
        }
    }

    /// Runs `body` with two logs on a new store, `follower` watched (its first call made),
    /// `other` as another process would write, and the watch's calls.
    static func withAWatch(
        _ body: (_ follower: PostgresEventLog, _ other: PostgresEventLog, _ calls: Calls) async throws -> Void
    ) async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let follower = try PostgresEventLog(url: store.url)
        defer { follower.close() }
        let other = try PostgresEventLog(url: store.url)
        defer { other.close() }
        let calls = Calls()
        let watch = follower.watchHead { calls.call($0) }
        defer { watch.stop() }
        #expect(await calls.reach(1), "the watch never began")
        try await body(follower, other, calls)
    }

    /// Counts a watch's calls; a test waits for a count (60 s: a bound for a failure only).
    final class Calls: Sendable {
        private let count = Mutex<UInt64>(0)
        private let named = Mutex<[UInt64]>([])
        private let reached = PositionWaiters()

        /// The positions the calls named.
        var positions: [UInt64] { named.withLock { $0 } }

        func call(_ position: UInt64?) {
            if let position { named.withLock { $0.append(position) } }
            reached.advance(
                to: count.withLock {
                    $0 += 1
                    return $0
                })
        }

        /// Whether the count reached `target`.
        func reach(_ target: UInt64) async -> Bool { await reached.wait(for: target, timeout: .seconds(60)) >= target }
    }
}
