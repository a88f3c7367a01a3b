import EventLog
import EventLogPostgres
import Foundation
import PostgresTestSupport
import Testing

/// What a node following a shared log relies on (``SharedEventLog``): the stored bytes in
/// order without gaps, each stream's claims, and a signal after every commit (the log's
/// "subscribe"), including commits by another process.
@Suite(.enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
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

    /// A listener on one connection hears a commit made through another log object (as
    /// another node would make it).
    @Test func headMovesYieldsAfterACommitByAnotherProcess() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let follower = try PostgresEventLog(url: store.url)
        defer { follower.close() }
        let writer = try PostgresEventLog(url: store.url)
        defer { writer.close() }
        var moves = follower.headMoves().makeAsyncIterator()
        _ = await moves.next()  // the first signal: listening (the head may have moved before)
        let appended = Task {
            // Appends until the listener reports; each commit must be signalled.
            for _ in 0..<200 {
                _ = try await writer.append([event()], to: UUID(), expecting: .noStream)
                try await Task.sleep(for: .milliseconds(50))
                if Task.isCancelled { return }
            }
        }
        defer { appended.cancel() }
        let heard: Void? = await moves.next()
        #expect(heard != nil)
        #expect(try follower.headPosition() >= 1)
    }
}
