import Dispatch
import Foundation
import LMDB
import Synchronization
import TestSupport
import Testing

/// `Environment.read` renews reset transactions from a pool: each read must still see the
/// latest commit, keep its own snapshot while it runs, and never hold back a resize or a close.
@Suite(.ownThreads) struct PooledReadTests {
    func withEnvironment(pooledReaders: Int = 16, _ body: (Environment) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "lmdb-pool-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let environment = try Environment(path: path, options: .init(mapSize: 1 << 20, pooledReaders: pooledReaders))
        defer { environment.close() }
        try body(environment)
    }

    func write(_ environment: Environment, _ key: String, _ value: String) throws -> Database {
        let txn = try environment.beginTransaction(readOnly: false)
        let db = try #require(try txn.openDatabase("things", flags: .create))
        try Array(key.utf8).withUnsafeBytes { k in
            try Array(value.utf8).withUnsafeBytes { try txn.put(db, key: k, value: $0) }
        }
        try txn.commit()
        return db
    }

    func get(_ txn: borrowing Transaction, _ db: Database, _ key: String) throws -> String? {
        try Array(key.utf8).withUnsafeBytes { try txn.get(db, key: $0).map { String(decoding: $0, as: UTF8.self) } }
    }

    @Test func eachReadSeesTheLatestCommit() throws {
        try withEnvironment { environment in
            for round in 0..<50 {
                let db = try write(environment, "key", "value \(round)")
                try environment.read { txn throws in #expect(try get(txn, db, "key") == "value \(round)") }
            }
        }
    }

    @Test func theSnapshotIDChangesWithACommitAndOnlyThen() throws {
        try withEnvironment { environment in
            let db = try write(environment, "a", "1")
            let first = try environment.read { $0.snapshotID }
            #expect(try environment.read { $0.snapshotID } == first)
            _ = try write(environment, "a", "2")
            let second = try environment.read { $0.snapshotID }
            #expect(second > first)
            try environment.read { txn throws in #expect(try get(txn, db, "a") == "2") }
        }
    }

    @Test func aReadKeepsItsSnapshotWhileAWriterCommits() throws {
        try withEnvironment { environment in
            let db = try write(environment, "a", "before")
            try environment.read { txn throws in
                let snapshot = txn.snapshotID
                _ = try write(environment, "a", "after")
                #expect(try get(txn, db, "a") == "before")
                #expect(txn.snapshotID == snapshot)
                // A read begun now, nested in this one, sees the new commit.
                try environment.read { inner throws in
                    #expect(try get(inner, db, "a") == "after")
                    #expect(inner.snapshotID > snapshot)
                }
            }
        }
    }

    @Test func idlePooledReadsDoNotHoldBackAResize() throws {
        try withEnvironment { environment in
            let db = try write(environment, "a", "1")
            for _ in 0..<20 { try environment.read { txn in _ = try get(txn, db, "a") } }
            try environment.setMapSize(4 << 20)  // would wait for ever if an idle read held the gate
            #expect(environment.mapSize == 4 << 20)
            let big = String(repeating: "x", count: 2 << 20)
            _ = try write(environment, "big", big)
            try environment.read { txn throws in #expect(try get(txn, db, "big")?.count == big.count) }
        }
    }

    @Test func closingFreesPooledReadsAndLaterReadsFail() throws {
        try withEnvironment { environment in
            let db = try write(environment, "a", "1")
            for _ in 0..<5 { try environment.read { txn in _ = try get(txn, db, "a") } }
            environment.close()
            #expect(throws: LMDBError.self) { try environment.read { _ in } }
            environment.close()  // twice is harmless
        }
    }

    @Test func concurrentReadersMoreThanThePoolHolds() throws {
        try withEnvironment(pooledReaders: 2) { environment in
            let db = try write(environment, "a", "shared")
            let failures = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                for _ in 0..<500 {
                    let value = try? environment.read { txn in try get(txn, db, "a") }
                    if value != "shared" { failures.add(1, ordering: .relaxed) }
                }
            }
            #expect(failures.load(ordering: .relaxed) == 0)
        }
    }

    @Test func aPoolOfNoneStillReads() throws {
        try withEnvironment(pooledReaders: 0) { environment in
            let db = try write(environment, "a", "1")
            try environment.read { txn throws in #expect(try get(txn, db, "a") == "1") }
            try environment.read { txn throws in #expect(try get(txn, db, "a") == "1") }
        }
    }
}
