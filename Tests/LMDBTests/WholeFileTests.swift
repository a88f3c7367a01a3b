import CLMDB
import Foundation
import TestSupport
import Testing

@testable import LMDB

/// `Environment.missingPages()` and the free list it reads past LMDB's map (`FreePages`).
@Suite(.ownThreads) struct WholeFileTests {
    /// xorshift64*: the same churn on every run.
    struct Random {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return Int((state &* 0x2545_F491_4F6C_DD1D) >> 33) % bound
        }
    }

    func withDirectory(_ body: (String) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "lmdb-whole-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    /// One transaction of random puts and deletes of up to `largest` bytes (some on overflow
    /// pages), the share of deletes drawn for the transaction, and now and then the whole
    /// database cleared: what a long-lived environment sees.
    func churn(_ environment: Environment, _ random: inout Random, keys: Int) throws {
        let txn = try environment.beginTransaction(readOnly: false)
        let db = try #require(try txn.openDatabase("churn", flags: .create))
        let value = [UInt8](repeating: 0x76, count: 2_500)
        let deletes = random.next(100)
        let largest = 1 + random.next(2_500)
        for _ in 0..<1 + random.next(3_000) {
            let key = Array("k\(random.next(keys))".utf8)
            try key.withUnsafeBytes { key in
                if random.next(100) < deletes {
                    _ = try txn.delete(db, key: key)
                } else {
                    try value[0..<1 + random.next(largest)].withUnsafeBytes { try txn.put(db, key: key, value: $0) }
                }
            }
        }
        if random.next(50) == 0 { try txn.clear(db) }
        try txn.commit()
    }

    /// The free list as LMDB itself reads it: every record of the free database (id 0).
    func freePagesByLMDB(_ environment: Environment) throws -> Set<UInt64> {
        var free = Set<UInt64>()
        try environment.read { txn throws in
            try txn.withCursor(Database(id: 0)) { cursor throws in
                var entry = try cursor.first()
                while let (_, list) = entry {
                    let count = Int(list.loadUnaligned(as: UInt64.self))
                    for index in 0..<count {
                        free.insert(list.loadUnaligned(fromByteOffset: 8 + 8 * index, as: UInt64.self))
                    }
                    entry = try cursor.next()
                }
            }
        }
        return free
    }

    func fileState(_ environment: Environment, _ path: String) throws -> (fileBytes: Int, usedBytes: Int, pageSize: Int)
    {
        var info = MDB_envinfo()
        var stat = MDB_stat()
        try environment.withOpenHandle { handle throws(LMDBError) in
            try check(mdb_env_info(handle, &info))
            try check(mdb_env_stat(handle, &stat))
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: path + "/data.mdb")
        let fileBytes = (attributes[.size] as? NSNumber)?.intValue ?? 0
        return (fileBytes, (Int(info.me_last_pgno) + 1) * Int(stat.ms_psize), Int(stat.ms_psize))
    }

    /// The free list read with `pread` is the free list LMDB reads, after each of 300
    /// transactions of churn (free lists of one leaf, of many pages, and on overflow pages).
    @Test func theFreeListReadFromTheFileIsTheOneLMDBReads() throws {
        try withDirectory { path in
            let environment = try Environment(path: path, options: .init(mapSize: 1 << 30, deferredSync: true))
            defer { environment.close() }
            var random = Random(state: 0x9E37_79B9_7F4A_7C15)
            var largestList = 0
            for round in 0..<300 {
                try churn(environment, &random, keys: 20_000)
                let descriptor = try environment.withOpenHandle { handle throws(LMDBError) in
                    var descriptor: Int32 = -1
                    try check(mdb_env_get_fd(handle, &descriptor))
                    return descriptor
                }
                let state = try fileState(environment, path)
                let read = FreePages.read(
                    descriptor: descriptor, pageSize: state.pageSize,
                    pagesInFile: UInt64(state.fileBytes / state.pageSize))
                let expected = try freePagesByLMDB(environment)
                #expect(read == expected, "round \(round)")
                largestList = max(largestList, expected.count)
            }
            #expect(largestList > 1_000, "the churn never made a free list past one page")
        }
    }

    /// A whole file may end before the last page its meta page counts: a page freed in the
    /// transaction that allocated it is never written. Such a file is not cut short, and every
    /// key in it reads; a cut of the same file is.
    @Test func aFileEndingOnPagesNeverWrittenIsWhole() throws {
        try withDirectory { path in
            let environment = try Environment(path: path, options: .init(mapSize: 1 << 30, deferredSync: true))
            defer { environment.close() }
            // A churn found to end its file two pages short at its fourth transaction (a search
            // over 200 seeds found six such files, one to two pages short).
            var random = Random(state: 33 &* 0x9E37_79B9_7F4A_7C15)
            let keys = 500 + random.next(20_000)
            var short: (fileBytes: Int, usedBytes: Int, pageSize: Int)?
            for _ in 0..<150 {
                try churn(environment, &random, keys: keys)
                let state = try fileState(environment, path)
                if state.fileBytes < state.usedBytes {
                    short = state
                    break
                }
            }
            let found = try #require(short, "the churn never ended a file before its last page")
            #expect(try environment.missingPages() == nil)
            try environment.read { txn throws in
                let db = try #require(try txn.openDatabase("churn"))
                try txn.withCursor(db) { cursor throws in
                    var entry = try cursor.first()
                    while entry != nil { entry = try cursor.next() }
                }
            }
            // The same file cut 64 pages shorter is missing pages in use.
            let copy = path + "/cut"
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
            #expect(
                FileManager.default.createFile(
                    atPath: copy + "/data.mdb", contents: bytes.prefix(found.fileBytes - found.pageSize * 64)))
            let cut = try Environment(path: copy, options: .init(readOnly: true))
            defer { cut.close() }
            #expect(try cut.missingPages() != nil)
            // And cut by one page more than the free tail: the last page written is in use.
            let oneMore = path + "/one-more"
            try FileManager.default.createDirectory(atPath: oneMore, withIntermediateDirectories: true)
            #expect(
                FileManager.default.createFile(
                    atPath: oneMore + "/data.mdb", contents: bytes.prefix(found.fileBytes - found.pageSize)))
            let shorter = try Environment(path: oneMore, options: .init(readOnly: true))
            defer { shorter.close() }
            #expect(try shorter.missingPages() != nil)
        }
    }

    /// Meta pages forged with a last page past what 64 bits count, or a page size LMDB never
    /// writes (LMDB opens both without a check), make the file cut short, without a trap or a
    /// read past a page.
    static let forgeries: [(String, UInt64, UInt32)] = [
        ("last page 2^64 - 1", UInt64.max, 4_096), ("last page 2^52 - 1", (1 << 52) - 1, 4_096),
        ("page size 64", 10, 64), ("page size 3000", 10, 3_000),
    ]

    @Test(arguments: forgeries)
    func forgedMetaPagesMakeTheFileCutShort(forgery: String, lastPage: UInt64, pageSize: UInt32) throws {
        try withDirectory { path in
            do {
                let environment = try Environment(path: path, options: .init(mapSize: 1 << 24))
                defer { environment.close() }
                var random = Random(state: 11)
                try churn(environment, &random, keys: 500)
            }
            let file = try #require(FileHandle(forUpdatingAtPath: path + "/data.mdb"))
            for meta in [UInt64(0), 4_096] {
                // The page size is the free database's pad (offset 40 of the page); the last page
                // follows the two databases (offset 136).
                try file.seek(toOffset: meta + 40)
                file.write(withUnsafeBytes(of: pageSize.littleEndian) { Data($0) })
                try file.seek(toOffset: meta + 136)
                file.write(withUnsafeBytes(of: lastPage.littleEndian) { Data($0) })
            }
            try file.close()
            let environment: Environment
            do {
                environment = try Environment(path: path, options: .init(readOnly: true))
            } catch {
                return  // this LMDB refused the forgery itself: nothing past it to check
            }
            defer { environment.close() }
            #expect(try environment.missingPages() != nil, "\(forgery)")
        }
    }

    /// A forged file gets an answer, never a crash or a read past what was read: the free list
    /// of a real environment read again after each of 600 changes of random bytes (in the
    /// meta pages and in the pages the free list is on) and random cuts.
    @Test func aForgedFreeListIsReadWithoutCrashing() throws {
        try withDirectory { path in
            let environment = try Environment(path: path, options: .init(mapSize: 1 << 30, deferredSync: true))
            var random = Random(state: 7)
            for _ in 0..<40 { try churn(environment, &random, keys: 5_000) }
            let state = try fileState(environment, path)
            environment.close()
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")))
            let pages = original.count / state.pageSize
            #expect(pages > 50)
            let forged = path + "/forged.mdb"
            var answers = (sets: 0, refusals: 0)
            for _ in 0..<600 {
                var bytes = original
                for _ in 0..<1 + random.next(8) {
                    // Half the changes in the two meta pages (roots, depths, transaction ids).
                    let at = random.next(2) == 0 ? random.next(2 * state.pageSize) : random.next(bytes.count)
                    bytes[at] = UInt8(random.next(256))
                }
                let length = random.next(4) == 0 ? random.next(bytes.count) : bytes.count
                #expect(FileManager.default.createFile(atPath: forged, contents: Data(bytes[0..<length])))
                let descriptor = open(forged, O_RDONLY)
                defer { close(descriptor) }
                let read = FreePages.read(
                    descriptor: descriptor, pageSize: state.pageSize, pagesInFile: UInt64(length / state.pageSize))
                if read == nil { answers.refusals += 1 } else { answers.sets += 1 }
            }
            #expect(answers.sets > 0 && answers.refusals > 0, "\(answers)")
        }
    }
}
