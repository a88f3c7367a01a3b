import Dispatch
import Foundation
import LMDB
import Synchronization
import Testing

/// A resize needs a moment with no transaction of the process open (`ReadWriteGate`): reads
/// that overlap without a pause must not keep that moment from coming, and a read nested in a
/// read must not wait for a resize that waits for the outer one.
@Suite struct ResizeUnderReadsTests {
    func withEnvironment(_ body: (Environment, Database) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "lmdb-resize-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let environment = try Environment(path: path, options: .init(mapSize: 1 << 20))
        defer { environment.close() }
        let txn = try environment.beginTransaction(readOnly: false)
        let db = try #require(try txn.openDatabase("things", flags: .create))
        try Self.key.withUnsafeBytes { key in
            try [UInt8]("value".utf8).withUnsafeBytes { try txn.put(db, key: key, value: $0) }
        }
        try txn.commit()
        try body(environment, db)
    }

    static let key = [UInt8]("key".utf8)

    /// Eight threads read without a pause, for 20 s at most; before the gate gave way, the
    /// resize waited until they stopped (19.98 s in each of three runs).
    @Test func aResizeGetsItsTurnWhileReadsOverlapWithoutAPause() throws {
        try withEnvironment { environment, db in
            let readers = 8
            let stop = Atomic<Bool>(false)
            let reads = Atomic<Int>(0)
            let done = DispatchGroup()
            let limit = Date().addingTimeInterval(20)
            for _ in 0..<readers {
                done.enter()
                Thread {
                    while !stop.load(ordering: .relaxed), Date() < limit {
                        _ = try? environment.read { txn in
                            try Self.key.withUnsafeBytes { key in
                                for _ in 0..<20 { _ = try txn.get(db, key: key) }
                            }
                        }
                        reads.add(1, ordering: .relaxed)
                    }
                    done.leave()
                }.start()
            }
            while reads.load(ordering: .relaxed) < 1_000 && Date() < limit { usleep(1_000) }
            let begin = Date()
            try environment.setMapSize(4 << 20)
            let waited = Date().timeIntervalSince(begin)
            stop.store(true, ordering: .relaxed)
            done.wait()
            #expect(environment.mapSize == 4 << 20)
            #expect(waited < 5, "the resize waited \(waited) s for the reads")
        }
    }

    /// A writer-preferring lock would stop here for ever: the nested read would wait for the
    /// resize, which waits for the outer read.
    @Test func aReadNestedInAReadStillRunsWhileAResizeWaits() throws {
        try withEnvironment { environment, db in
            let resized = DispatchSemaphore(value: 0)
            try environment.read { outer in
                Thread {
                    try? environment.setMapSize(4 << 20)
                    resized.signal()
                }.start()
                let limit = Date().addingTimeInterval(30)
                while environment.exclusiveTakersWaiting == 0 && Date() < limit { usleep(1_000) }
                #expect(environment.exclusiveTakersWaiting == 1, "the resize never waited")
                let value = try environment.read { inner in
                    try Self.key.withUnsafeBytes { try inner.get(db, key: $0).map { [UInt8]($0) } }
                }
                #expect(value == [UInt8]("value".utf8))
                // The outer read is still open: the resize cannot have run.
                #expect(resized.wait(timeout: .now()) == .timedOut)
                _ = try Self.key.withUnsafeBytes { try outer.get(db, key: $0) }
            }
            #expect(resized.wait(timeout: .now() + 30) == .success)
            #expect(environment.mapSize == 4 << 20)
        }
    }
}
