import CLMDB
import Glibc

/// One LMDB environment: a directory holding `data.mdb` and `lock.mdb`.
///
/// Rules this type keeps so callers need not:
/// - every transaction holds a shared gate; ``setMapSize(_:)`` waits for all of them to end,
///   because LMDB forbids resizing while this process has a transaction open;
/// - `MDB_MAP_RESIZED` (another process grew the map) is adopted and the begin retried;
/// - readers use `MDB_NOTLS`, so a read transaction is not tied to its thread's slot;
/// - ``read(_:)`` renews a reset read transaction from a small pool instead of beginning one;
///   an idle pooled transaction holds neither the gate nor a snapshot, and closing frees them.
///
/// Open one `Environment` per directory per process: LMDB does not support opening the
/// same environment twice in one process.
public final class Environment: @unchecked Sendable {
    // MDB_env is safe to use from several threads; the gate covers the one call that is not.
    let handle: OpaquePointer
    let gate = ReadWriteGate()
    let readPool: ReadTransactionPool
    // Written only under the exclusive gate, read under the shared one.
    nonisolated(unsafe) var isClosed = false
    public let path: String
    public let isReadOnly: Bool
    /// Opened with ``Options/writableMap``.
    public let hasWritableMap: Bool

    public struct Options: Sendable {
        /// Initial map size in bytes; the owner grows it with ``Environment/setMapSize(_:)``.
        public var mapSize: Int
        public var maxDatabases: UInt32
        public var maxReaders: UInt32
        public var readOnly: Bool
        /// Reset read transactions kept for reuse (each keeps a reader slot while idle).
        public var pooledReaders: Int
        /// Commits do not wait for the disk (`MDB_NOSYNC`); ``sync()`` does. Only for data that
        /// can be made again: a system crash may undo the last commits, and on a file system
        /// that does not keep write order may leave the environment unreadable.
        public var deferredSync: Bool
        /// Commits write their pages in the map itself (`MDB_WRITEMAP`) instead of copying them
        /// to the file with `pwrite`: cheaper for an environment that reaches the disk seldom
        /// (``deferredSync``), dearer for one that syncs at every commit (the first write to a
        /// page after each sync faults). Rules:
        /// - LMDB sets the data file's length to the map size at open: check that a file is
        ///   whole (``missingPages()``) in an environment opened without it first;
        /// - the file's blocks are allocated before the map covers them, at open and at every
        ///   ``setMapSize(_:)``, so a full disk fails there (`ENOSPC`), never as a `SIGBUS` at
        ///   a write into the map;
        /// - every process that opens the environment opens it so: LMDB's processes with and
        ///   without it do not cooperate.
        public var writableMap: Bool

        public init(
            mapSize: Int = 16 << 20, maxDatabases: UInt32 = 32, maxReaders: UInt32 = 510,
            readOnly: Bool = false, pooledReaders: Int = 16, deferredSync: Bool = false, writableMap: Bool = false
        ) {
            self.mapSize = mapSize
            self.maxDatabases = maxDatabases
            self.maxReaders = maxReaders
            self.readOnly = readOnly
            self.pooledReaders = pooledReaders
            self.deferredSync = deferredSync
            self.writableMap = writableMap
        }
    }

    /// Opens the environment in the existing directory `path`.
    public init(path: String, options: Options = Options()) throws(LMDBError) {
        var env: OpaquePointer?
        try check(mdb_env_create(&env))
        guard let env else { throw LMDBError(code: ENOMEM) }
        do {
            try check(mdb_env_set_maxdbs(env, options.maxDatabases))
            try check(mdb_env_set_maxreaders(env, options.maxReaders))
            try check(mdb_env_set_mapsize(env, options.mapSize))
            var flags = UInt32(MDB_NOTLS)
            if options.readOnly { flags |= UInt32(MDB_RDONLY) }
            if options.deferredSync && !options.readOnly { flags |= UInt32(MDB_NOSYNC) }
            if options.writableMap && !options.readOnly { flags |= UInt32(MDB_WRITEMAP) }
            try check(mdb_env_open(env, path, flags, 0o600))
            if options.writableMap && !options.readOnly {
                var info = MDB_envinfo()
                try check(mdb_env_info(env, &info))
                try Self.allocateBlocks(env, through: info.me_mapsize)
            }
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.handle = env
        self.path = path
        self.isReadOnly = options.readOnly
        self.hasWritableMap = options.writableMap && !options.readOnly
        self.readPool = ReadTransactionPool(capacity: max(0, min(options.pooledReaders, Int(options.maxReaders) / 2)))
    }

    deinit {
        if !isClosed {
            readPool.drain()
            mdb_env_close(handle)
        }
    }

    /// Closes the environment after every open transaction of this process has ended.
    /// Later calls fail with `EINVAL`; closing twice is harmless.
    public func close() {
        gate.lockExclusive()
        defer { gate.unlockExclusive() }
        if !isClosed {
            isClosed = true
            readPool.drain()  // every pooled transaction is idle: each in use holds the gate
            mdb_env_close(handle)
        }
    }

    /// Begins a transaction. A read-only environment only begins read transactions.
    public func beginTransaction(readOnly: Bool) throws(LMDBError) -> Transaction {
        let flags = readOnly || isReadOnly ? UInt32(MDB_RDONLY) : 0
        while true {
            gate.lock.lockShared()
            if isClosed {
                gate.lock.unlockShared()
                throw LMDBError(code: EINVAL)
            }
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(handle, nil, flags, &txn)
            if rc == 0, let txn {
                return Transaction(handle: txn, gate: gate.lock, isReadOnly: flags != 0)
            }
            gate.lock.unlockShared()
            guard rc == MDB_MAP_RESIZED else { throw LMDBError(code: rc) }
            try adoptMapSize()
        }
    }

    /// Changes the map size. Waits until no transaction of this process is open.
    public func setMapSize(_ bytes: Int) throws(LMDBError) {
        gate.lockExclusive()
        defer { gate.unlockExclusive() }
        if isClosed { throw LMDBError(code: EINVAL) }
        if hasWritableMap && bytes > 0 { try Self.allocateBlocks(handle, through: bytes) }
        try check(mdb_env_set_mapsize(handle, bytes))
        if hasWritableMap && bytes == 0 {
            var info = MDB_envinfo()
            try check(mdb_env_info(handle, &info))
            try Self.allocateBlocks(handle, through: info.me_mapsize)
        }
    }

    /// Allocates the data file's blocks through byte `end` (see ``Options/writableMap``).
    private static func allocateBlocks(_ handle: OpaquePointer, through end: Int) throws(LMDBError) {
        var descriptor: Int32 = -1
        try check(mdb_env_get_fd(handle, &descriptor))
        var result: Int32
        repeat { result = posix_fallocate(descriptor, 0, off_t(end)) } while result == EINTR
        try check(result)
    }

    /// Writes what committed transactions left in the system's buffers to disk (commits in an
    /// environment opened with ``Options/deferredSync`` leave it there).
    public func sync() throws(LMDBError) {
        try withOpenHandle { handle throws(LMDBError) in try check(mdb_env_sync(handle, 1)) }
    }

    /// Takes up a map size that another process has set (after `MDB_MAP_RESIZED`).
    public func adoptMapSize() throws(LMDBError) {
        try setMapSize(0)
    }

    /// Runs `body` with the handle while no resize or close can run; `EINVAL` once closed.
    func withOpenHandle<Result>(_ body: (OpaquePointer) throws(LMDBError) -> Result) throws(LMDBError) -> Result {
        gate.lock.lockShared()
        defer { gate.lock.unlockShared() }
        if isClosed { throw LMDBError(code: EINVAL) }
        return try body(handle)
    }

    /// The current map size in bytes (0 once closed).
    public var mapSize: Int {
        (try? withOpenHandle { handle in
            var info = MDB_envinfo()
            mdb_env_info(handle, &info)
            return info.me_mapsize
        }) ?? 0
    }

    /// Bytes the data file uses: (last page number + 1) x page size (0 once closed).
    public var usedBytes: Int {
        (try? withOpenHandle { handle in
            var info = MDB_envinfo()
            mdb_env_info(handle, &info)
            var stat = MDB_stat()
            mdb_env_stat(handle, &stat)
            return (info.me_last_pgno + 1) * Int(stat.ms_psize)
        }) ?? 0
    }
}
