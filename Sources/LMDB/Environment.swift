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
    /// Opened with ``Options/writableMap`` (and not read-only).
    let hasWritableMap: Bool
    /// Held while open to write; released at ``close()``.
    let writers: WriterKindLock?

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
        /// - a map never reaches past the data file's end, in any process: the blocks are
        ///   allocated (Linux `fallocate`) before a map covers them, and no open or resize
        ///   asks LMDB for a size below the file's length, which LMDB would cut the file to
        ///   under another process's map. Both happen under an exclusive `flock` of
        ///   `data.mdb`, so two processes opening or growing at once take turns;
        /// - so a full disk fails the open or the growth (`ENOSPC`), never a write into the
        ///   map with `SIGBUS`; a file system that cannot allocate ahead fails with
        ///   `EOPNOTSUPP`. On a copy-on-write file system (btrfs, ZFS) blocks allocated ahead
        ///   do not keep room for later writes: this promise does not hold there;
        /// - every process that writes the environment opens it so: LMDB's writers with and
        ///   without it do not cooperate. An environment opened to write holds its kind's
        ///   ``WriterKindLock`` and is refused (``LMDBError/otherKindOfWriter``) while a
        ///   writer of the other kind has it open.
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
        let writableMap = options.writableMap && !options.readOnly
        // Before LMDB opens anything: with the map, opening sets the data file's length.
        let writers = options.readOnly ? nil : try WriterKindLock(directory: path, inMap: writableMap)
        var env: OpaquePointer?
        try check(mdb_env_create(&env))
        guard let env else { throw LMDBError(code: ENOMEM) }
        do {
            try check(mdb_env_set_maxdbs(env, options.maxDatabases))
            try check(mdb_env_set_maxreaders(env, options.maxReaders))
            var flags = UInt32(MDB_NOTLS)
            if options.readOnly { flags |= UInt32(MDB_RDONLY) }
            if options.deferredSync && !options.readOnly { flags |= UInt32(MDB_NOSYNC) }
            if writableMap {
                flags |= UInt32(MDB_WRITEMAP)
                try DataFileLock.holding(path: path + "/data.mdb") { file throws(LMDBError) in
                    try check(mdb_env_set_mapsize(env, max(options.mapSize, try file.length())))
                    try check(mdb_env_open(env, path, flags, 0o600))
                    try file.allocate(through: Self.mapSize(of: env))
                }
            } else {
                try check(mdb_env_set_mapsize(env, options.mapSize))
                try check(mdb_env_open(env, path, flags, 0o600))
            }
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.handle = env
        self.path = path
        self.isReadOnly = options.readOnly
        self.hasWritableMap = writableMap
        self.writers = writers
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
            writers?.release()
        }
    }

    /// Begins a transaction. A read-only environment only begins read transactions.
    public func beginTransaction(readOnly: Bool) throws(LMDBError) -> Transaction {
        let flags = readOnly || isReadOnly ? UInt32(MDB_RDONLY) : 0
        while true {
            gate.lockShared()
            if isClosed {
                gate.lock.unlockShared()
                throw LMDBError(code: EINVAL)
            }
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(handle, nil, flags, &txn)
            if rc == 0, let txn {
                if flags != 0, mayHaveCopiedALaterCommit(txn) {
                    mdb_txn_abort(txn)
                    gate.lock.unlockShared()
                    continue
                }
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
        guard hasWritableMap else { return try check(mdb_env_set_mapsize(handle, bytes)) }
        // 0 (adopt another process's size): the file's length, which that process's map does
        // not pass, or this map's size if larger.
        var descriptor: Int32 = -1
        try check(mdb_env_get_fd(handle, &descriptor))
        try DataFileLock.holding(descriptor: descriptor) { file throws(LMDBError) in
            let size = max(bytes == 0 ? Self.mapSize(of: handle) : bytes, try file.length())
            try file.allocate(through: size)
            try check(mdb_env_set_mapsize(handle, size))
        }
    }

    /// The map size of an open handle (no gate: the caller holds it or owns the handle).
    private static func mapSize(of handle: OpaquePointer) -> Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    /// Writes what committed transactions left in the system's buffers to disk (commits in an
    /// environment opened with ``Options/deferredSync`` leave it there).
    public func sync() throws(LMDBError) {
        try withOpenHandle { handle throws(LMDBError) in try check(mdb_env_sync(handle, 1)) }
    }

    /// Resizes and closes of this environment waiting for its open transactions to end (for
    /// tests: ``ReadWriteGate`` has the rules).
    package var exclusiveTakersWaiting: Int { gate.waitingExclusive }

    /// Takes up a map size that another process has set (after `MDB_MAP_RESIZED`).
    public func adoptMapSize() throws(LMDBError) {
        try setMapSize(0)
    }

    /// Runs `body` with the handle while no resize or close can run; `EINVAL` once closed.
    func withOpenHandle<Result>(_ body: (OpaquePointer) throws(LMDBError) -> Result) throws(LMDBError) -> Result {
        gate.lockShared()
        defer { gate.lock.unlockShared() }
        if isClosed { throw LMDBError(code: EINVAL) }
        return try body(handle)
    }

    /// The current map size in bytes (0 once closed).
    public var mapSize: Int {
        (try? withOpenHandle { handle in Self.mapSize(of: handle) }) ?? 0
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

/// An environment's data file under an exclusive `flock`, held while a writable map's size
/// is chosen and set (see ``Environment/Options/writableMap``). LMDB locks only `lock.mdb`,
/// and with `fcntl`: this lock is independent of it.
struct DataFileLock {
    let descriptor: Int32

    /// Runs `body` with the file at `path` (created, 0600, if missing) locked.
    static func holding<Result>(
        path: String, _ body: (DataFileLock) throws(LMDBError) -> Result
    ) throws(LMDBError) -> Result {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw LMDBError(code: errno) }
        defer { close(descriptor) }
        return try holding(descriptor: descriptor, body)
    }

    /// Runs `body` with the open file `descriptor` (LMDB's own) locked.
    static func holding<Result>(
        descriptor: Int32, _ body: (DataFileLock) throws(LMDBError) -> Result
    ) throws(LMDBError) -> Result {
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw LMDBError(code: errno) }
        }
        defer { _ = flock(descriptor, LOCK_UN) }
        return try body(DataFileLock(descriptor: descriptor))
    }

    /// The file's length in bytes.
    func length() throws(LMDBError) -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw LMDBError(code: errno) }
        return Int(status.st_size)
    }

    /// Allocates the file's blocks from its start through byte `end`.
    func allocate(through end: Int) throws(LMDBError) {
        while fallocate(descriptor, 0, 0, off_t(end)) != 0 {
            guard errno == EINTR else { throw LMDBError(code: errno) }
        }
    }
}
