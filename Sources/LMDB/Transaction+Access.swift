import CLMDB

extension Transaction {
    /// Opens (or with `.create`, creates) a named database; `nil` names the main database.
    /// Returns `nil` when the database does not exist and `.create` was not given.
    public func openDatabase(_ name: String?, flags: Database.Flags = []) throws(LMDBError) -> Database? {
        var dbi: MDB_dbi = 0
        let rc = mdb_dbi_open(handle, name, flags.rawValue, &dbi)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc)
        return Database(id: dbi)
    }

    /// The value stored under `key`, or `nil`. The buffer points into the map.
    public func get(_ db: Database, key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(key)
        var v = MDB_val()
        let rc = mdb_get(handle, db.id, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc)
        return v.buffer
    }

    /// Stores `value` under `key`.
    public func put(
        _ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: WriteFlags = []
    ) throws(LMDBError) {
        var k = MDB_val(key)
        var v = MDB_val(value)
        try check(mdb_put(handle, db.id, &k, &v, flags.rawValue))
    }

    /// Reserves `count` bytes under `key` and lets `fill` write them in place, saving a copy.
    public func put(
        _ db: Database, key: UnsafeRawBufferPointer, reserving count: Int, flags: WriteFlags = [],
        fill: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(LMDBError) {
        var k = MDB_val(key)
        var v = MDB_val(mv_size: count, mv_data: nil)
        try check(mdb_put(handle, db.id, &k, &v, flags.rawValue | UInt32(MDB_RESERVE)))
        fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: count))
    }

    /// Deletes `key`; returns whether it was there.
    @discardableResult
    public func delete(_ db: Database, key: UnsafeRawBufferPointer) throws(LMDBError) -> Bool {
        var k = MDB_val(key)
        let rc = mdb_del(handle, db.id, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try check(rc)
        return true
    }

    /// Removes every entry of `db` (the database itself stays).
    public func clear(_ db: Database) throws(LMDBError) {
        try check(mdb_drop(handle, db.id, 0))
    }

    /// Deletes `db` from the environment, entries and name, and closes its handle: it must
    /// not be used again.
    public func drop(_ db: Database) throws(LMDBError) {
        try check(mdb_drop(handle, db.id, 1))
    }

    /// Number of entries in `db`.
    public func count(_ db: Database) throws(LMDBError) -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(handle, db.id, &stat))
        return stat.ms_entries
    }

    /// Runs `body` with a cursor on `db`; the cursor is closed before this returns, so it can
    /// never outlive the transaction.
    public func withCursor<Result>(
        _ db: Database, _ body: (inout Cursor) throws -> Result
    ) throws -> Result {
        var raw: OpaquePointer?
        try check(mdb_cursor_open(handle, db.id, &raw))
        guard let raw else { throw LMDBError.invalid }
        var cursor = Cursor(handle: raw)
        return try body(&cursor)
    }
}
