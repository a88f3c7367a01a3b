import EventLog
import Foundation
import TestSupport
import Testing

/// The rules of the `EventLog` protocol, written once and run against every backend
/// (``Backend/all``): each test gets a fresh log (a temporary directory, or a database of its
/// own).
@Suite(.ownThreads) struct ConformanceTests {
    @Test(arguments: Backend.all)
    func appendsGetDensePositionsAndStreamVersions(_ backend: Backend) async throws {
        try await withLog(backend) { log, _ in
            let a = UUID()
            let b = UUID()
            #expect(try log.headPosition() == 0)
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
            #expect(try log.readStream(a, from: 4).isEmpty)
            #expect(try log.readStream(b, from: 0).map(\.streamID) == [b])
            #expect(try log.readStream(UUID(), from: 1).isEmpty)
            #expect(try log.read(from: 2, limit: 2).map(\.position) == [2, 3])
            #expect(try log.read(from: 5, limit: 10).isEmpty)
            #expect(try log.read(from: 0, limit: 1).map(\.position) == [1])
        }
    }

    @Test(arguments: Backend.all)
    func whatIsReadIsWhatWasAppended(_ backend: Backend) async throws {
        let clock: @Sendable () -> Timestamp = { Timestamp(microsecondsSince1970: 1_700_000_000_123_456) }
        try await withLog(backend, clock: clock) { log, _ in
            let stream = UUID()
            let sent = NewEvent(
                type: "UserRegistered", schemaVersion: 3,
                metadata: EventMetadata(actor: "admin-7", correlationID: "req-42"), payload: [0, 1, 2, 255, 0])
            let result = try await log.append([sent], to: stream, expecting: .noStream)
            let read = try #require(try log.read(from: 1, limit: 1).first)
            #expect(read.streamID == stream && read.streamVersion == 1 && read.position == 1)
            #expect(read.type == sent.type && read.schemaVersion == 3 && read.metadata == sent.metadata)
            #expect(read.payload == sent.payload)
            #expect(read.recordedAt == result.recordedAt)
            #expect(read.recordedAt.microsecondsSince1970 == 1_700_000_000_123_456)
            #expect(try log.readStream(stream, from: 1) == [read])
        }
    }

    @Test(arguments: Backend.all)
    func twoAppendsWithTheSameExpectationExactlyOneWins(_ backend: Backend) async throws {
        try await withLog(backend) { log, _ in
            let stream = UUID()
            _ = try await log.append([event()], to: stream, expecting: .noStream)
            async let left = Result(catching: {
                try await log.append([event("Left")], to: stream, expecting: .exactly(1))
            })
            async let right = Result(catching: {
                try await log.append([event("Right")], to: stream, expecting: .exactly(1))
            })
            let outcomes = await [left, right]
            #expect(outcomes.filter { (try? $0.get()) != nil }.count == 1)
            let loss = outcomes.first { (try? $0.get()) == nil }
            #expect(throws: EventLogError.conflict(stream: stream, expected: .exactly(1), actual: 2)) {
                try loss?.get()
            }
            #expect(try log.readStream(stream, from: 1).count == 2)
            await #expect(throws: EventLogError.conflict(stream: stream, expected: .noStream, actual: 2)) {
                try await log.append([event()], to: stream, expecting: .noStream)
            }
            let other = UUID()
            await #expect(throws: EventLogError.conflict(stream: other, expected: .exactly(1), actual: 0)) {
                try await log.append([event()], to: other, expecting: .exactly(1))
            }
            _ = try await log.append([event()], to: stream, expecting: .any)
            #expect(try log.currentVersion(of: stream) == 3)
        }
    }

    @Test(arguments: Backend.all)
    func aConflictInABatchDoesNotFailItsNeighbours(_ backend: Backend) async throws {
        try await withLog(backend) { log, _ in
            let taken = UUID()
            _ = try await log.append([event()], to: taken, expecting: .noStream)
            let fresh = UUID()
            let outcomes = try await log.append([
                AppendRequest(stream: UUID(), expected: .noStream, events: [event("A")]),
                AppendRequest(stream: taken, expected: .noStream, events: [event("B")]),
                AppendRequest(stream: fresh, expected: .noStream, events: [event("C"), event("C")]),
                AppendRequest(stream: fresh, expected: .exactly(2), events: [event("D")]),
                AppendRequest(stream: fresh, expected: .exactly(2), events: [event("E")]),
                AppendRequest(stream: UUID(), expected: .noStream, events: []),
                AppendRequest(stream: UUID(), expected: .noStream, events: [event("F")]),
            ])
            #expect((try? outcomes[0].get())?.firstPosition == 2)
            #expect(throws: EventLogError.conflict(stream: taken, expected: .noStream, actual: 1)) {
                try outcomes[1].get()
            }
            #expect((try? outcomes[2].get())?.lastPosition == 4)
            #expect((try? outcomes[3].get())?.streamVersion == 3)
            #expect(throws: EventLogError.conflict(stream: fresh, expected: .exactly(2), actual: 3)) {
                try outcomes[4].get()
            }
            #expect(throws: EventLogError.emptyAppend) { try outcomes[5].get() }
            #expect((try? outcomes[6].get())?.firstPosition == 6)
            #expect(try log.all().map(\.type) == ["TestEvent", "A", "C", "C", "D", "F"])
            #expect(try log.verify(from: 1, through: nil).isIntact)
        }
    }

    @Test(arguments: Backend.all)
    func aClaimedKeyBelongsToOneStreamUntilReleased(_ backend: Backend) async throws {
        try await withLog(backend) { log, _ in
            let key = Array("alice@example.com".utf8)
            let alice = UUID()
            let mallory = UUID()
            _ = try await log.append([
                AppendRequest(
                    stream: alice, expected: .noStream, events: [event()],
                    claims: [.init(.claim, scope: "email", key: key)])
            ])[0].get()
            #expect(try log.owner(of: key, in: "email") == alice)
            #expect(try log.owner(of: key, in: "stripe") == nil)
            // Claiming a key the stream holds already is a no-op.
            _ = try await log.append([
                AppendRequest(
                    stream: alice, expected: .any, events: [event()], claims: [.init(.claim, scope: "email", key: key)])
            ])[0].get()
            let stolen = try await log.append([
                AppendRequest(
                    stream: mallory, expected: .noStream, events: [event()],
                    claims: [.init(.claim, scope: "email", key: key)])
            ])
            #expect(throws: EventLogError.uniqueViolation(scope: "email")) { try stolen[0].get() }
            #expect(try log.currentVersion(of: mallory) == 0)
            #expect(try log.headPosition() == 2)
            // A release by a stream that does not hold the key changes nothing.
            _ = try await log.append([
                AppendRequest(
                    stream: mallory, expected: .any, events: [event()],
                    claims: [.init(.release, scope: "email", key: key)])
            ])[0].get()
            #expect(try log.owner(of: key, in: "email") == alice)
            _ = try await log.append([
                AppendRequest(
                    stream: alice, expected: .any, events: [event()],
                    claims: [.init(.release, scope: "email", key: key)])
            ])[0].get()
            #expect(try log.owner(of: key, in: "email") == nil)
            _ = try await log.append([
                AppendRequest(
                    stream: mallory, expected: .any, events: [event()],
                    claims: [.init(.claim, scope: "email", key: key)])
            ])[0].get()
            #expect(try log.owner(of: key, in: "email") == mallory)
        }
    }

    @Test(arguments: Backend.all)
    func twoClaimsOfOneKeyInOneBatchExactlyOneWins(_ backend: Backend) async throws {
        try await withLog(backend) { log, _ in
            let key = Array("bob@example.com".utf8)
            let requests = (0..<8).map { _ in
                AppendRequest(
                    stream: UUID(), expected: .noStream, events: [event()],
                    claims: [.init(.claim, scope: "email", key: key)])
            }
            let outcomes = try await log.append(requests)
            let winners = outcomes.compactMap { try? $0.get() }
            #expect(winners.count == 1)
            #expect(try log.owner(of: key, in: "email") == winners.first?.stream)
            #expect(try log.headPosition() == 1)
        }
    }

    @Test(arguments: Backend.all)
    func aKeyReleasedEarlierInABatchCanBeClaimedLaterInIt(_ backend: Backend) async throws {
        try await withLog(backend) { log, _ in
            let old = Array("old@example.com".utf8)
            let new = Array("new@example.com".utf8)
            let alice = UUID()
            let bob = UUID()
            _ = try await log.append([
                AppendRequest(
                    stream: alice, expected: .noStream, events: [event()],
                    claims: [.init(.claim, scope: "email", key: old)])
            ])[0].get()
            let outcomes = try await log.append([
                // Alice changes her address: gives up the old one, takes the new one.
                AppendRequest(
                    stream: alice, expected: .exactly(1), events: [event("EmailChanged")],
                    claims: [.init(.claim, scope: "email", key: new), .init(.release, scope: "email", key: old)]),
                // Bob takes Alice's old address in the same batch, after her change.
                AppendRequest(
                    stream: bob, expected: .noStream, events: [event()],
                    claims: [.init(.claim, scope: "email", key: old)]),
                // And no one else can take her new one.
                AppendRequest(
                    stream: UUID(), expected: .noStream, events: [event()],
                    claims: [.init(.claim, scope: "email", key: new)]),
            ])
            #expect((try? outcomes[0].get()) != nil)
            #expect((try? outcomes[1].get()) != nil)
            #expect(throws: EventLogError.uniqueViolation(scope: "email")) { try outcomes[2].get() }
            #expect(try log.owner(of: new, in: "email") == alice)
            #expect(try log.owner(of: old, in: "email") == bob)
            #expect(try log.headPosition() == 3)
        }
    }

    @Test(arguments: Backend.all)
    func badRequestsAreRefusedAndNothingIsWritten(_ backend: Backend) async throws {
        try await withLog(backend) { log, _ in
            let stream = UUID()
            var huge = event()
            huge.payload = [UInt8](repeating: 1, count: NewEvent.maximumPayloadSize + 1)
            await #expect(throws: EventLogError.payloadTooLarge(size: 65_537, limit: 65_536)) {
                try await log.append([event(), huge], to: stream, expecting: .noStream)
            }
            await #expect(throws: EventLogError.emptyAppend) { try await log.append([], to: stream, expecting: .any) }
            await #expect(throws: EventLogError.invalidEvent("event type must be 1 to 255 bytes of UTF-8, got 300")) {
                try await log.append([event(String(repeating: "x", count: 300))], to: stream, expecting: .any)
            }
            let many = [NewEvent](repeating: event(), count: NewEvent.maximumEventsPerAppend + 1)
            await #expect(throws: EventLogError.tooManyEvents(count: 1_001, limit: 1_000)) {
                try await log.append(many, to: stream, expecting: .any)
            }
            let badClaim = try await log.append([
                AppendRequest(
                    stream: stream, expected: .any, events: [event()], claims: [.init(.claim, scope: "", key: [1])])
            ])
            #expect(throws: EventLogError.self) { try badClaim[0].get() }
            #expect(try log.headPosition() == 0)
            var exact = event()
            exact.payload = [UInt8](repeating: 1, count: NewEvent.maximumPayloadSize)
            _ = try await log.append([exact], to: stream, expecting: .noStream)
            #expect(try log.readStream(stream, from: 1).first?.payload.count == NewEvent.maximumPayloadSize)
        }
    }

    @Test(arguments: Backend.all)
    func recordedTimesComeFromTheClockAndNeverGoBackwards(_ backend: Backend) async throws {
        let times = ClockScript([500, 300, 900])
        try await withLog(backend, clock: times.next) { log, _ in
            for _ in 0..<3 { _ = try await log.append([event()], to: UUID(), expecting: .noStream) }
            #expect(try log.all().map(\.recordedAt.microsecondsSince1970) == [500, 500, 900])
        }
    }

    /// The chain is the protocol's: each hash is SHA-256 of the previous one and the event's
    /// canonical bytes, recomputed here from what the log reads back.
    @Test(arguments: Backend.all)
    func eachHashIsSHA256OfThePreviousAndTheCanonicalBytes(_ backend: Backend) async throws {
        try await withLog(backend) { log, _ in
            let streams = (0..<3).map { _ in UUID() }
            for index in 0..<12 {
                _ = try await log.append([event("E", "event \(index)")], to: streams[index % 3], expecting: .any)
            }
            var previous = ChainHash.genesis
            var scratch: [UInt8] = []
            for recorded in try log.all() {
                var writer = ByteWriter()
                Envelope.writeCanonical(
                    of: NewEvent(
                        type: recorded.type, schemaVersion: recorded.schemaVersion, metadata: recorded.metadata,
                        payload: recorded.payload),
                    position: recorded.position, streamID: recorded.streamID, streamVersion: recorded.streamVersion,
                    recordedAt: recorded.recordedAt, to: &writer)
                let expected = writer.bytes.withUnsafeBytes { previous.next(canonicalBytes: $0, scratch: &scratch) }
                #expect(recorded.hash == expected)
                previous = expected
            }
            #expect(try log.verify(from: 1, through: nil) == .intact(count: 12, through: 12, head: previous))
            let middle = try log.read(from: 4, limit: 1)[0].hash
            #expect(try log.verify(from: 2, through: 4) == .intact(count: 3, through: 4, head: middle))
            #expect(try log.verify(from: 1, through: 0) == .intact(count: 0, through: 0, head: .genesis))
        }
    }

    /// Many tasks append at once (each its own stream, or one of a few shared ones with no
    /// expectation): positions stay dense, and every acknowledged event is stored once, where
    /// its acknowledgement says.
    @Test(arguments: Backend.all)
    func concurrentAppendsFromManyTasksStayDenseAndEachAcknowledgedEventIsStoredOnce(_ backend: Backend)
        async throws
    {
        try await withLog(backend) { log, _ in
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
            #expect(Set(all.map { String(decoding: $0.payload, as: UTF8.self) }).count == 1_000)
            for stream in shared {
                #expect(try log.readStream(stream, from: 1).map(\.streamVersion) == Array(1...50))
            }
            #expect(try log.verify(from: 1, through: nil).isIntact)
        }
    }

    /// Tasks that race on one stream (each expecting the version it last saw) and on one key,
    /// over many commits, each task waiting for its answer before trying again: every append
    /// is checked against all that committed before it, so each version is won once, the key
    /// is claimed once, and no commit fails (a stale read would write a version twice).
    @Test(arguments: Backend.all)
    func appendsRacingOverManyCommitsAreCheckedAgainstEveryCommitBeforeThem(_ backend: Backend) async throws {
        try await withLog(backend) { log, _ in
            let stream = UUID()
            let key = Array("carol@example.com".utf8)
            let (wins, claims) = try await withThrowingTaskGroup(of: (wins: Int, claims: Int).self) { group in
                for task in 0..<16 {
                    group.addTask {
                        var wins = 0
                        var claims = 0
                        var known: UInt64 = 0
                        for attempt in 0..<25 {
                            do {
                                let won = try await log.append(
                                    [event("Raced", "\(task) \(attempt)")], to: stream,
                                    expecting: known == 0 ? .noStream : .exactly(known))
                                known = won.streamVersion
                                wins += 1
                            } catch EventLogError.conflict(_, _, let actual) {
                                known = actual
                            }
                            let claim = AppendRequest(
                                stream: UUID(), expected: .noStream, events: [event("Claimed")],
                                claims: [.init(.claim, scope: "email", key: key)])
                            switch try await log.append([claim])[0] {
                            case .success: claims += 1
                            case .failure(let error): #expect(error == .uniqueViolation(scope: "email"))
                            }
                        }
                        return (wins, claims)
                    }
                }
                return try await group.reduce(into: (0, 0)) { $0 = ($0.0 + $1.wins, $0.1 + $1.claims) }
            }
            #expect(wins >= 25)
            #expect(try log.currentVersion(of: stream) == UInt64(wins))
            #expect(try log.readStream(stream, from: 1).map(\.streamVersion) == Array(1...UInt64(wins)))
            #expect(claims == 1)
            #expect(try log.headPosition() == UInt64(wins + 1))
            #expect(try log.verify(from: 1, through: nil).isIntact)
        }
    }

    @Test(arguments: Backend.all)
    func theWholeLogReadsAsAnAsyncSequenceInPages(_ backend: Backend) async throws {
        try await withLog(backend) { log, _ in
            _ = try await log.append(
                (0..<25).map { AppendRequest(stream: UUID(), expected: .noStream, events: [event("E", "\($0)")]) })
            var positions: [UInt64] = []
            for try await recorded in log.events(from: 3, pageSize: 4) { positions.append(recorded.position) }
            #expect(positions == Array(3...25))
        }
    }

    @Test(arguments: Backend.all)
    func whatWasAcknowledgedIsThereWhenTheLogIsOpenedAgain(_ backend: Backend) async throws {
        let store = try backend.makeStore()
        defer { store.remove() }
        let stream = UUID()
        let key = Array("carol@example.com".utf8)
        let first = try store.open(clock: { Timestamp.now() })
        _ = try await first.append([
            AppendRequest(
                stream: stream, expected: .noStream, events: [event(), event()],
                claims: [.init(.claim, scope: "email", key: key)])
        ])[0].get()
        let written = try first.all()
        first.close()
        let second = try store.open(clock: { Timestamp.now() })
        defer { second.close() }
        #expect(try second.all() == written)
        #expect(try second.owner(of: key, in: "email") == stream)
        let next = try await second.append([event()], to: stream, expecting: .exactly(2))
        #expect(next.firstPosition == 3)
        #expect(try second.verify(from: 1, through: nil).isIntact)
    }

    @Test(arguments: Backend.all)
    func aClosedLogRefusesAppendsAndReads(_ backend: Backend) async throws {
        let store = try backend.makeStore()
        defer { store.remove() }
        let log = try store.open(clock: { Timestamp.now() })
        _ = try await log.append([event()], to: UUID(), expecting: .noStream)
        log.close()
        await #expect(throws: EventLogError.closed) { try await log.append([event()], to: UUID(), expecting: .any) }
        #expect(throws: EventLogError.closed) { try log.headPosition() }
    }
}
