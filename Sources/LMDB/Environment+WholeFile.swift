import CLMDB
import Glibc

extension Environment {
    /// The size of `data.mdb` and the bytes its pages reach to, when a page the environment may
    /// read lies past the end of the file (it was cut short: a partial copy, a truncated
    /// backup); nil when the file holds every such page.
    ///
    /// Rules:
    /// - LMDB reads pages in place through its memory map, so a page past the end of the file
    ///   raises SIGBUS in the reading process instead of returning an error. Call this right
    ///   after opening, before any transaction, and refuse the environment unless it is nil.
    /// - A whole file may end before the last page the newest meta page counts: a page freed
    ///   in the transaction that allocated it is never written. Pages past the end are
    ///   therefore looked up in the free list, which is read with `pread` (``FreePages``),
    ///   never through the map; only a page past the end that is not free is missing.
    /// - It reads the meta pages, and the free list only when the file is shorter than the
    ///   last page. A writer in another process committing meanwhile can make the three
    ///   readings (last page, size, free list) disagree: a page found missing is looked for
    ///   again, up to three times, before the file is called cut short. A file cut short while
    ///   it is open is not caught.
    /// - A page size LMDB would not write (a power of two from 512 to 65,536 bytes) or a last
    ///   page past what 64 bits count makes the file cut short: both come only from a forged
    ///   or damaged meta page, which LMDB opens without a check.
    public func missingPages() throws(LMDBError) -> (fileBytes: Int, usedBytes: Int)? {
        try withOpenHandle { handle throws(LMDBError) in
            var descriptor: Int32 = -1
            try check(mdb_env_get_fd(handle, &descriptor))
            var missing: (fileBytes: Int, usedBytes: Int)?
            for _ in 0..<3 {
                var info = MDB_envinfo()
                var stat = MDB_stat()
                try check(mdb_env_info(handle, &info))
                try check(mdb_env_stat(handle, &stat))
                var file = Glibc.stat()
                guard fstat(descriptor, &file) == 0 else { throw LMDBError(code: errno) }
                let fileBytes = Int(file.st_size)
                let pageSize = Int(stat.ms_psize)
                let lastPage = UInt64(truncatingIfNeeded: info.me_last_pgno)
                let (end, overflowed) = (lastPage &+ 1).multipliedReportingOverflow(by: UInt64(max(pageSize, 1)))
                let used = overflowed || lastPage == UInt64.max || end > UInt64(Int.max) ? Int.max : Int(end)
                guard FreePages.pageSizes.contains(pageSize) else { return (fileBytes, used) }
                let pagesInFile = UInt64(fileBytes / pageSize)
                if lastPage < pagesInFile { return nil }
                // Every page from the end of the file to the last one must be free; there cannot
                // be more of them than the free list holds.
                if let free = FreePages.read(descriptor: descriptor, pageSize: pageSize, pagesInFile: pagesInFile),
                    lastPage - pagesInFile < UInt64(free.count), (pagesInFile...lastPage).allSatisfy(free.contains)
                {
                    return nil
                }
                missing = (fileBytes, used)
            }
            return missing
        }
    }
}

/// The page numbers LMDB's free list holds, read from the file with `pread`: the newest meta
/// page's free database, walked from its root (LMDB's on-disk format, `LMDB_DATA_VERSION` 1,
/// 64-bit).
///
/// Rules:
/// - Every page read must lie wholly inside the file's first `pagesInFile` pages, hold what
///   its place in the tree says it holds (branch, leaf, overflow), and be met once; the tree
///   is at most as deep as the meta page says and LMDB allows (32). Anything else answers nil
///   (the free list cannot be read: treat the file as cut short). A forged file gets nil or a
///   set, never a read outside the bytes read.
/// - `LMDBTests` pins what this reads to LMDB's own reading of the free database.
package enum FreePages {
    // Page header: page number (8), pad (2), flags (2), lower and upper bounds (2 + 2), or an
    // overflow page's count of pages (4).
    static let headerSize = 16
    static let branch: UInt16 = 0x01, leaf: UInt16 = 0x02, overflow: UInt16 = 0x04, meta: UInt16 = 0x08
    // A leaf node's data on overflow pages (F_BIGDATA).
    static let bigData: UInt16 = 0x01
    static let magic: UInt32 = 0xBEEF_C0DE
    /// The page sizes LMDB writes.
    static let pageSizes: Set<Int> = Set((9...16).map { 1 << $0 })

    /// The free list of the file open on `descriptor`, whose first `pagesInFile` pages count.
    static func read(descriptor: Int32, pageSize: Int, pagesInFile: UInt64) -> Set<UInt64>? {
        read(pageSize: pageSize, pagesInFile: pagesInFile) { offset, bytes in
            bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) } == bytes.count
        }
    }

    /// The free list of a file given whole as `file` (the fuzz target's entry).
    package static func read(file: UnsafeRawBufferPointer, pageSize: Int) -> Set<UInt64>? {
        guard pageSize > 0 else { return nil }
        return read(pageSize: pageSize, pagesInFile: UInt64(file.count / pageSize)) { offset, bytes in
            bytes.withUnsafeMutableBytes {
                $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: file[offset..<offset + $0.count]))
            }
            return true
        }
    }

    /// `load(offset, into)` fills `into` from the file at `offset` (always inside its first
    /// `pagesInFile` pages); false when it cannot.
    static func read(
        pageSize: Int, pagesInFile: UInt64, load: @escaping (Int, inout [UInt8]) -> Bool
    ) -> Set<UInt64>? {
        guard pageSizes.contains(pageSize) else { return nil }
        let reader = Reader(pageSize: pageSize, pagesInFile: pagesInFile, load: load)
        // The newest of the two meta pages: the larger transaction id.
        var newest: (txnid: UInt64, root: UInt64, depth: UInt16)?
        for number in [UInt64(0), 1] {
            guard let page = reader.page(number), page.u16(10) & meta != 0, page.u32(headerSize) == magic else {
                continue
            }
            // The meta page after its header: magic (4), version (4), address (8), map size (8),
            // then the free database's MDB_db (pad 4, flags 2, depth 2, four counts of 8, root 8),
            // the main database's, the last page (8) and the transaction id (8).
            let database = headerSize + 24
            let txnid = page.u64(database + 2 * 48 + 8)
            if newest == nil || txnid > newest!.txnid {
                newest = (txnid, page.u64(database + 40), page.u16(database + 6))
            }
        }
        guard let newest, newest.depth <= 32 else { return nil }
        var free = Set<UInt64>()
        if newest.root == UInt64.max { return free }  // an empty free list (P_INVALID)
        // A valid free list keeps each node and each page number in 8 bytes of its own: no
        // more of them than the file's bytes over 8 are read.
        var walk = Walk(budget: Int(pagesInFile) * (pageSize / 8))
        guard reader.collect(newest.root, depthLeft: Int(newest.depth), into: &free, walk: &walk) else { return nil }
        return free
    }

    struct Page {
        let bytes: [UInt8]

        func u16(_ offset: Int) -> UInt16 {
            bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
        }
        func u32(_ offset: Int) -> UInt32 {
            bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
        }
        func u64(_ offset: Int) -> UInt64 {
            bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
        }
    }

    /// What a walk has read: each page once, and no more nodes and page numbers than `budget`.
    struct Walk {
        var budget: Int
        var visited = Set<UInt64>()

        /// Takes `cost` from the budget; false once it is spent.
        mutating func spend(_ cost: Int) -> Bool {
            budget -= cost
            return budget >= 0
        }
    }

    struct Reader {
        let pageSize: Int
        let pagesInFile: UInt64
        let load: (Int, inout [UInt8]) -> Bool

        /// Page `number`, or nil when it is not wholly in the file.
        func page(_ number: UInt64, count: Int = 1) -> Page? {
            guard number < pagesInFile, UInt64(count) <= pagesInFile - number else { return nil }
            var bytes = [UInt8](repeating: 0, count: pageSize * count)
            return load(Int(number) * pageSize, &bytes) ? Page(bytes: bytes) : nil
        }

        /// Adds the free pages under page `number` to `free`; false when the tree is not as it
        /// should be.
        func collect(_ number: UInt64, depthLeft: Int, into free: inout Set<UInt64>, walk: inout Walk) -> Bool {
            guard depthLeft > 0, walk.visited.insert(number).inserted, let page = page(number), page.u64(0) == number
            else { return false }
            let flags = page.u16(10)
            let lower = Int(page.u16(12))
            guard lower >= headerSize, lower <= pageSize else { return false }
            for index in 0..<(lower - headerSize) / 2 {
                let node = Int(page.u16(headerSize + 2 * index))
                guard node >= lower, node + 8 <= pageSize, walk.spend(1) else { return false }
                let low = UInt64(page.u16(node))
                let high = UInt64(page.u16(node + 2))
                let nodeFlags = page.u16(node + 4)
                let keySize = Int(page.u16(node + 6))
                if flags & branch != 0 {
                    let child = low | high << 16 | UInt64(nodeFlags) << 32
                    guard collect(child, depthLeft: depthLeft - 1, into: &free, walk: &walk) else { return false }
                } else if flags & leaf != 0 {
                    let dataSize = Int(low | high << 16)
                    let dataAt = node + 8 + keySize
                    let list: [UInt8]
                    if nodeFlags & bigData != 0 {
                        // Only the pages the data needs are read, however many the first one claims.
                        let needed = (headerSize + dataSize + pageSize - 1) / pageSize
                        guard dataAt + 8 <= pageSize, let first = self.page(page.u64(dataAt)),
                            first.u16(10) & overflow != 0, needed <= Int(first.u32(12)),
                            let whole = self.page(page.u64(dataAt), count: needed),
                            (page.u64(dataAt)..<page.u64(dataAt) + UInt64(needed)).allSatisfy({
                                walk.visited.insert($0).inserted
                            })
                        else { return false }
                        list = Array(whole.bytes[headerSize..<headerSize + dataSize])
                    } else {
                        guard dataAt + dataSize <= pageSize else { return false }
                        list = Array(page.bytes[dataAt..<dataAt + dataSize])
                    }
                    // An ID list: its count, then that many page numbers.
                    guard list.count >= 8 else { return false }
                    let ids = Page(bytes: list)
                    let count = ids.u64(0)
                    guard count <= UInt64(list.count / 8 - 1), walk.spend(Int(count)) else { return false }
                    for id in 0..<Int(count) { free.insert(ids.u64(8 + 8 * id)) }
                } else {
                    return false
                }
            }
            return true
        }
    }
}
