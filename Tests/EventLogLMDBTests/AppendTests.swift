import EventLog
import EventLogLMDB
import Foundation
import Synchronization
import Testing

@Suite struct AppendTests {
    @Test func appendsGetDensePositionsAndStreamVersions() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        let a = UUID()
        let b = UUID()
        let first = try await log.append([event(), event()], to: a, expecting: .noStream)
        let second = try await log.append([event()], to: b, expecting: .noStream)
        let third = try await log.append([event()], to: a, expecting: .exactly(2))
        #expect(first.firstPosition == 1 && first.lastPosition == 2 && first.streamVersion == 2)
        #expect(second.firstPosition == 3 && second.streamVersion == 1)
        #expect(third.firstPosition == 4 && third.streamVersion == 3)
        #expect(try log.headPosition() == 4)
        #expect(try log.currentVersion(of: a) == 3)
        #expect(try log.currentVersion(of: UUID()) == 0)
        #expect(try log.readStream(a, from: 1).map(\.position) == [1, 2, 4])
        #expect(try log.readStream(a, from: 3).map(\.streamVersion) == [3])
        #expect(try log.readStream(b, from: 1).map(\.streamID) == [b])
        #expect(try log.read(from: 2, limit: 2).map(\.position) == [2, 3])
    }

    @Test func twoAppendsWithTheSameExpectationExactlyOneWins() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        let stream = UUID()
        _ = try await log.append([event()], to: stream, expecting: .noStream)
        async let left = Result(catching: { try await log.append([event("Left")], to: stream, expecting: .exactly(1)) })
        async let right = Result(catching: {
            try await log.append([event("Right")], to: stream, expecting: .exactly(1))
        })
        let outcomes = await [left, right]
        let wins = outcomes.filter { (try? $0.get()) != nil }
        #expect(wins.count == 1)
        let loss = outcomes.first { (try? $0.get()) == nil }
        #expect(throws: EventLogError.conflict(stream: stream, expected: .exactly(1), actual: 2)) { try loss?.get() }
        #expect(try log.readStream(stream, from: 1).count == 2)
    }

    @Test func aConflictInABatchDoesNotFailItsNeighbours() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        let taken = UUID()
        _ = try await log.append([event()], to: taken, expecting: .noStream)
        let fresh = UUID()
        let outcomes = try await log.append([
            AppendRequest(stream: UUID(), expected: .noStream, events: [event("A")]),
            AppendRequest(stream: taken, expected: .noStream, events: [event("B")]),
            AppendRequest(stream: fresh, expected: .noStream, events: [event("C"), event("C")]),
            AppendRequest(stream: fresh, expected: .exactly(2), events: [event("D")]),
            AppendRequest(stream: fresh, expected: .exactly(2), events: [event("E")]),
        ])
        #expect((try? outcomes[0].get())?.firstPosition == 2)
        #expect(throws: EventLogError.conflict(stream: taken, expected: .noStream, actual: 1)) { try outcomes[1].get() }
        #expect((try? outcomes[2].get())?.lastPosition == 4)
        #expect((try? outcomes[3].get())?.streamVersion == 3)
        #expect(throws: EventLogError.conflict(stream: fresh, expected: .exactly(2), actual: 3)) {
            try outcomes[4].get()
        }
        #expect(try log.all().map(\.type) == ["TestEvent", "A", "C", "C", "D"])
        #expect(try log.verify().isIntact)
    }

    @Test func aThousandConcurrentAppendsStayDenseAndReadable() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        let shared = (0..<10).map { _ in UUID() }
        let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for index in 0..<1_000 {
                group.addTask {
                    if index % 2 == 0 {
                        return try await log.append([event("Own", "\(index)")], to: UUID(), expecting: .noStream)
                    }
                    return try await log.append(
                        [event("Shared", "\(index)")], to: shared[(index / 2) % 10], expecting: .any)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let all = try log.all()
        #expect(all.map(\.position) == Array(1...1_000))
        #expect(Set(results.map(\.lastPosition)) == Set(1...1_000))
        for result in results {
            let stored = all[Int(result.lastPosition) - 1]
            #expect(stored.streamID == result.stream && stored.streamVersion == result.streamVersion)
        }
        for stream in shared {
            #expect(try log.readStream(stream, from: 1).map(\.streamVersion) == Array(1...50))
        }
        #expect(try log.verify().isIntact)
    }

    @Test func badEventsAreRefusedAndNothingIsWritten() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        let stream = UUID()
        var huge = event()
        huge.payload = [UInt8](repeating: 1, count: NewEvent.maximumPayloadSize + 1)
        await #expect(throws: EventLogError.payloadTooLarge(size: 65_537, limit: 65_536)) {
            try await log.append([event(), huge], to: stream, expecting: .noStream)
        }
        await #expect(throws: EventLogError.emptyAppend) { try await log.append([], to: stream, expecting: .any) }
        await #expect(throws: EventLogError.self) {
            try await log.append([event(String(repeating: "x", count: 300))], to: stream, expecting: .any)
        }
        #expect(try log.headPosition() == 0)
        var exact = event()
        exact.payload = [UInt8](repeating: 1, count: NewEvent.maximumPayloadSize)
        _ = try await log.append([exact], to: stream, expecting: .noStream)
        #expect(try log.readStream(stream, from: 1).first?.payload.count == NewEvent.maximumPayloadSize)
    }

    @Test func recordedTimesComeFromTheClockAndNeverGoBackwards() async throws {
        let directory = TemporaryDirectory()
        let times = ClockScript([500, 300, 900])
        let log = try LMDBEventLog(directory: directory.path, options: .init(clock: { times.next() }))
        defer { log.close() }
        for _ in 0..<3 { _ = try await log.append([event()], to: UUID(), expecting: .noStream) }
        #expect(try log.all().map(\.recordedAt.microsecondsSince1970) == [500, 500, 900])
    }

    @Test func theWholeLogReadsAsAnAsyncSequenceInPages() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        _ = try await log.append(
            (0..<25).map { AppendRequest(stream: UUID(), expected: .noStream, events: [event("E", "\($0)")]) })
        var positions: [UInt64] = []
        for try await recorded in log.events(from: 3, pageSize: 4) { positions.append(recorded.position) }
        #expect(positions == Array(3...25))
    }

    @Test func aClosedLogRefusesAppends() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        log.close()
        await #expect(throws: EventLogError.closed) { try await log.append([event()], to: UUID(), expecting: .any) }
        #expect(throws: EventLogError.closed) { try log.headPosition() }
    }
}

/// A clock that returns scripted times, one per call.
final class ClockScript: Sendable {
    private let times: Mutex<[Int64]>
    init(_ times: [Int64]) { self.times = Mutex(times) }
    func next() -> Timestamp {
        Timestamp(microsecondsSince1970: times.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] })
    }
}

extension ChainVerification {
    var isIntact: Bool {
        if case .intact = self { return true }
        return false
    }

    var breakPosition: UInt64? {
        if case .broken(let failure) = self { return failure.position }
        return nil
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

@Suite struct UniqueClaimTests {
    let key = Array("alice@example.com".utf8)

    @Test func aClaimedKeyBelongsToOneStreamUntilReleased() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        let alice = UUID()
        let mallory = UUID()
        _ = try await log.append([
            AppendRequest(
                stream: alice, expected: .noStream, events: [event()], claims: [.init(.claim, scope: "email", key: key)]
            )
        ])[0].get()
        #expect(try log.owner(of: key, in: "email") == alice)
        #expect(try log.owner(of: key, in: "stripe") == nil)
        let stolen = try await log.append([
            AppendRequest(
                stream: mallory, expected: .noStream, events: [event()],
                claims: [.init(.claim, scope: "email", key: key)])
        ])
        #expect(throws: EventLogError.uniqueViolation(scope: "email")) { try stolen[0].get() }
        #expect(try log.currentVersion(of: mallory) == 0)
        // A release by a stream that does not hold the key changes nothing.
        _ = try await log.append([
            AppendRequest(
                stream: mallory, expected: .any, events: [event()], claims: [.init(.release, scope: "email", key: key)])
        ])[0].get()
        #expect(try log.owner(of: key, in: "email") == alice)
        _ = try await log.append([
            AppendRequest(
                stream: alice, expected: .any, events: [event()], claims: [.init(.release, scope: "email", key: key)])
        ])[0].get()
        #expect(try log.owner(of: key, in: "email") == nil)
    }

    @Test func twoClaimsOfOneKeyInOneBatchExactlyOneWins() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        let requests = (0..<8).map { _ in
            AppendRequest(
                stream: UUID(), expected: .noStream, events: [event()],
                claims: [.init(.claim, scope: "email", key: key)])
        }
        let outcomes = try await log.append(requests)
        #expect(outcomes.filter { (try? $0.get()) != nil }.count == 1)
        #expect(try log.headPosition() == 1)
    }
}
