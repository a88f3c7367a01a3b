import Dispatch
import Foundation
import LMDB
import Synchronization
import TestSupport
import Testing

/// A resize needs a moment with no transaction of the process open (`ReadWriteGate`): reads
/// that overlap without a pause must not keep that moment from coming, a long read that holds
/// it off must not slow every other read, and a read nested in a read must not wait for a
/// resize that waits for the outer one.
@Suite(.ownThreads, .serialized) struct ResizeUnderReadsTests {
    static let key = [UInt8]("key".utf8)

    /// An environment with one key; the caller closes it (a test that finds a stuck read leaves
    /// it open rather than wait for ever in `close`).
    func makeEnvironment() throws -> (Environment, Database, path: String) {
        let path = NSTemporaryDirectory() + "lmdb-resize-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let environment = try Environment(path: path, options: .init(mapSize: 1 << 20))
        let txn = try environment.beginTransaction(readOnly: false)
        let db = try #require(try txn.openDatabase("things", flags: .create))
        try Self.key.withUnsafeBytes { key in
            try [UInt8]("value".utf8).withUnsafeBytes { try txn.put(db, key: key, value: $0) }
        }
        try txn.commit()
        return (environment, db, path)
    }

    func value(_ environment: Environment, _ db: Database) throws -> [UInt8]? {
        try environment.read { txn in try Self.key.withUnsafeBytes { try txn.get(db, key: $0).map { [UInt8]($0) } } }
    }

    /// Grows the map to 4 MiB and answers how long that took, in seconds.
    func timedResize(_ environment: Environment) throws -> TimeInterval {
        let begin = Date()
        try environment.setMapSize(4 << 20)
        return Date().timeIntervalSince(begin)
    }

    /// Waits (30 s at most) until a resize waits for the gate.
    func awaitWaitingResize(_ environment: Environment) {
        let limit = Date().addingTimeInterval(30)
        while environment.exclusiveTakersWaiting == 0 && Date() < limit { usleep(1_000) }
    }

    /// Eight threads reading without a pause (20 gets a read), for 20 s at most or until
    /// stopped.
    final class Flood: Sendable {
        private let running = Atomic<Bool>(true)
        private let reads = Atomic<Int>(0)
        private let done = DispatchGroup()
        private let limit = Date().addingTimeInterval(20)

        init(_ environment: Environment, _ db: Database) {
            for _ in 0..<8 {
                done.enter()
                Thread { [self] in
                    while running.load(ordering: .relaxed), Date() < limit {
                        _ = try? environment.read { txn in
                            try ResizeUnderReadsTests.key.withUnsafeBytes { key in
                                for _ in 0..<20 { _ = try txn.get(db, key: key) }
                            }
                        }
                        reads.add(1, ordering: .relaxed)
                    }
                    done.leave()
                }.start()
            }
        }

        /// Waits until the threads have made `count` reads (or their time is up).
        func awaitReads(_ count: Int) {
            while reads.load(ordering: .relaxed) < count && Date() < limit { usleep(1_000) }
        }

        /// Stops the threads and waits for them to end.
        func stop() {
            running.store(false, ordering: .relaxed)
            done.wait()
        }
    }

    /// Eight threads read without a pause, for 20 s at most; before the gate gave way, the
    /// resize waited until they stopped (19.98 s in each of three runs).
    @Test func aResizeGetsItsTurnWhileReadsOverlapWithoutAPause() throws {
        let (environment, db, path) = try makeEnvironment()
        defer {
            environment.close()
            try? FileManager.default.removeItem(atPath: path)
        }
        let flood = Flood(environment, db)
        defer { flood.stop() }
        flood.awaitReads(1_000)
        let waited = try timedResize(environment)
        #expect(environment.mapSize == 4 << 20)
        #expect(waited < 5, "the resize waited \(waited) s for the reads")
    }

    /// While a long read holds a resize off, other reads give way for the window's 50 ms, then
    /// go on at full speed: 40 reads took 2 s when each one gave way for 50 ms of its own.
    @Test func aLongReadThatHoldsAResizeOffSlowsOtherReadsOnlyForTheWindow() throws {
        let (environment, db, path) = try makeEnvironment()
        defer {
            environment.close()
            try? FileManager.default.removeItem(atPath: path)
        }
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let resized = DispatchSemaphore(value: 0)
        Thread {
            _ = try? environment.read { _ in
                holding.signal()
                release.wait()
            }
        }.start()
        guard holding.wait(timeout: .now() + 30) == .success else {
            Issue.record("the long read never began")
            return
        }
        defer { release.signal() }
        Thread {
            try? environment.setMapSize(4 << 20)
            resized.signal()
        }.start()
        awaitWaitingResize(environment)
        #expect(environment.exclusiveTakersWaiting == 1, "the resize never waited")
        let begin = Date()
        for _ in 0..<40 { #expect(try value(environment, db) == [UInt8]("value".utf8)) }
        let took = Date().timeIntervalSince(begin)
        #expect(took < 1, "40 reads took \(took) s while a resize waited")
        release.signal()
        #expect(resized.wait(timeout: .now() + 30) == .success)
        #expect(environment.mapSize == 4 << 20)
    }

    /// Eight threads read without a pause while a long read (1.2 s) holds a resize off: once
    /// the long read has ended, the resize gets its turn at the next window (one a second).
    @Test func aResizeHeldOffByALongReadDuringAFloodGetsItsTurnAfterIt() throws {
        let (environment, db, path) = try makeEnvironment()
        defer {
            environment.close()
            try? FileManager.default.removeItem(atPath: path)
        }
        let flood = Flood(environment, db)
        defer { flood.stop() }
        let holding = DispatchSemaphore(value: 0)
        Thread {
            _ = try? environment.read { _ in
                holding.signal()
                usleep(1_200_000)
            }
        }.start()
        guard holding.wait(timeout: .now() + 30) == .success else {
            Issue.record("the long read never began")
            return
        }
        let waited = try timedResize(environment)
        #expect(environment.mapSize == 4 << 20)
        #expect(waited < 5, "the resize waited \(waited) s")
    }

    /// A writer-preferring lock would stop here for ever: the nested read would wait for the
    /// resize, which waits for the outer read. The reads run on a thread of their own, so such
    /// a regression fails the test instead of hanging the run.
    @Test func aReadNestedInAReadStillRunsWhileAResizeWaits() throws {
        let (environment, db, path) = try makeEnvironment()
        let resized = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let outcome = Mutex<(waited: Bool, nested: [UInt8]?, resizedEarly: Bool)?>(nil)
        Thread {
            let result = try? environment.read { _ in
                Thread {
                    try? environment.setMapSize(4 << 20)
                    resized.signal()
                }.start()
                awaitWaitingResize(environment)
                let waited = environment.exclusiveTakersWaiting == 1
                let nested = try value(environment, db)
                // The outer read is still open: the resize cannot have run.
                return (waited, nested, resized.wait(timeout: .now()) == .success)
            }
            outcome.withLock { $0 = result }
            finished.signal()
        }.start()
        guard finished.wait(timeout: .now() + 60) == .success else {
            Issue.record("the nested read never ran: the environment is left open")
            return
        }
        defer {
            environment.close()
            try? FileManager.default.removeItem(atPath: path)
        }
        let result = try #require(outcome.withLock { $0 })
        #expect(result.waited, "the resize never waited")
        #expect(result.nested == [UInt8]("value".utf8))
        #expect(!result.resizedEarly)
        #expect(resized.wait(timeout: .now() + 30) == .success)
        #expect(environment.mapSize == 4 << 20)
    }
}
