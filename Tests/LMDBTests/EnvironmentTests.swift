import Foundation
import LMDB
import TestSupport
import Testing

@Suite(.ownThreads) struct EnvironmentTests {
    func withEnvironment(_ body: (Environment) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "lmdb-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let environment = try Environment(path: path, options: .init(mapSize: 1 << 20))
        defer { environment.close() }
        try body(environment)
    }

    func put(_ txn: borrowing Transaction, _ db: Database, _ key: String, _ value: String) throws {
        try Array(key.utf8).withUnsafeBytes { k in
            try Array(value.utf8).withUnsafeBytes { try txn.put(db, key: k, value: $0) }
        }
    }

    func get(_ txn: borrowing Transaction, _ db: Database, _ key: String) throws -> String? {
        try Array(key.utf8).withUnsafeBytes { try txn.get(db, key: $0).map { String(decoding: $0, as: UTF8.self) } }
    }

    @Test func committedWritesAreSeenAndAbortedOnesAreNot() throws {
        try withEnvironment { environment in
            let setup = try environment.beginTransaction(readOnly: false)
            let db = try #require(try setup.openDatabase("things", flags: .create))
            try put(setup, db, "kept", "1")
            try setup.commit()

            let dropped = try environment.beginTransaction(readOnly: false)
            try put(dropped, db, "dropped", "2")
            dropped.abort()

            let forgotten = try environment.beginTransaction(readOnly: false)
            try put(forgotten, db, "forgotten", "3")
            _ = consume forgotten  // ending without commit aborts

            try environment.read { txn throws in
                #expect(try get(txn, db, "kept") == "1")
                #expect(try get(txn, db, "dropped") == nil)
                #expect(try get(txn, db, "forgotten") == nil)
                #expect(try txn.count(db) == 1)
            }
        }
    }

    @Test func cursorsWalkInKeyOrderAndSeek() throws {
        try withEnvironment { environment in
            let txn = try environment.beginTransaction(readOnly: false)
            let db = try #require(try txn.openDatabase("ordered", flags: .create))
            for key in ["b", "d", "a", "c"] { try put(txn, db, key, key.uppercased()) }
            let keys = try txn.withCursor(db) { cursor in
                var keys: [String] = []
                var entry = try cursor.first()
                while let current = entry {
                    keys.append(String(decoding: current.key, as: UTF8.self))
                    entry = try cursor.next()
                }
                return keys
            }
            #expect(keys == ["a", "b", "c", "d"])
            let found = try txn.withCursor(db) { cursor in
                try Array("bb".utf8).withUnsafeBytes { try cursor.seek(atOrAfter: $0) }.map {
                    String(decoding: $0.value, as: UTF8.self)
                }
            }
            #expect(found == "C")
            try txn.commit()
        }
    }

    @Test func aFullMapIsATypedErrorAndGrowingItLetsTheWriteThrough() throws {
        try withEnvironment { environment in
            let big = [UInt8](repeating: 7, count: 600 * 1024)
            func write(_ key: String) throws {
                let txn = try environment.beginTransaction(readOnly: false)
                let db = try #require(try txn.openDatabase("blobs", flags: .create))
                try Array(key.utf8).withUnsafeBytes { k in
                    try big.withUnsafeBytes { try txn.put(db, key: k, value: $0) }
                }
                try txn.commit()
            }
            try write("one")
            #expect(throws: LMDBError.mapFull) { try write("two") }
            try environment.setMapSize(8 << 20)
            try write("two")
            #expect(environment.mapSize == 8 << 20)
        }
    }

    /// With a writable map the data file's blocks are allocated through the map's end, at
    /// open and at each growth: a write into the map never lands on a page the disk has no
    /// room for. A sparse file (the length set, no blocks) would hold about one block.
    @Test func aWritableMapHasTheFilesBlocksAllocatedThroughTheMapsEnd() throws {
        let path = NSTemporaryDirectory() + "lmdb-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        func allocated() throws -> Int {
            var file = stat()
            try #require(stat(path + "/data.mdb", &file) == 0)
            return Int(file.st_blocks) * 512
        }
        let environment = try Environment(
            path: path, options: .init(mapSize: 2 << 20, deferredSync: true, writableMap: true))
        defer { environment.close() }
        #expect(try allocated() >= 2 << 20)
        try environment.setMapSize(6 << 20)
        #expect(try allocated() >= 6 << 20)
        let txn = try environment.beginTransaction(readOnly: false)
        let db = try #require(try txn.openDatabase("things", flags: .create))
        try put(txn, db, "kept", "1")
        try txn.commit()
        try environment.sync()
        try environment.read { txn throws in #expect(try get(txn, db, "kept") == "1") }
    }

    @Test func aClosedEnvironmentRefusesTransactions() throws {
        try withEnvironment { environment in
            environment.close()
            #expect(throws: LMDBError.self) { _ = try environment.beginTransaction(readOnly: true) }
        }
    }

    @Test func missingPagesNamesADataFileCutShortAndNothingElse() throws {
        let path = NSTemporaryDirectory() + "lmdb-test-" + UUID().uuidString
        let copy = path + "-cut"
        for directory in [path, copy] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        defer { for directory in [path, copy] { try? FileManager.default.removeItem(atPath: directory) } }
        do {
            let environment = try Environment(path: path, options: .init(mapSize: 4 << 20))
            defer { environment.close() }
            let txn = try environment.beginTransaction(readOnly: false)
            let db = try #require(try txn.openDatabase("things", flags: .create))
            for n in 0..<2_000 { try put(txn, db, "key \(n)", String(repeating: "v", count: 200)) }
            try txn.commit()
            #expect(try environment.missingPages() == nil)
        }
        let whole = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        #expect(whole.count > 100_000)
        // A copy one byte short of whole, and one cut to its first third: both are named, with
        // the size the pages need, before any page past the end is read.
        for length in [whole.count - 1, whole.count / 3] {
            #expect(FileManager.default.createFile(atPath: copy + "/data.mdb", contents: whole.prefix(length)))
            let environment = try Environment(path: copy, options: .init(readOnly: true))
            defer { environment.close() }
            let missing = try #require(try environment.missingPages())
            #expect(missing.fileBytes == length && missing.usedBytes == whole.count)
        }
    }
}
