import CLMDB

/// A position in one database, walked in key order. Obtained only through
/// `Transaction.withCursor`, which closes it before the transaction can end.
public struct Cursor: ~Copyable {
    let handle: OpaquePointer

    deinit {
        mdb_cursor_close(handle)
    }

    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    @inline(__always)
    mutating func move(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws(LMDBError) -> Entry? {
        var k = key.map { MDB_val($0) } ?? MDB_val()
        var v = MDB_val()
        let rc = mdb_cursor_get(handle, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc)
        return (k.buffer, v.buffer)
    }

    public mutating func first() throws(LMDBError) -> Entry? { try move(MDB_FIRST) }
    public mutating func last() throws(LMDBError) -> Entry? { try move(MDB_LAST) }
    public mutating func next() throws(LMDBError) -> Entry? { try move(MDB_NEXT) }
    public mutating func previous() throws(LMDBError) -> Entry? { try move(MDB_PREV) }

    /// Moves to the first key at or after `key`.
    public mutating func seek(atOrAfter key: UnsafeRawBufferPointer) throws(LMDBError) -> Entry? {
        try move(MDB_SET_RANGE, key: key)
    }

    /// Moves to exactly `key`.
    public mutating func seek(exactly key: UnsafeRawBufferPointer) throws(LMDBError) -> Entry? {
        try move(MDB_SET_KEY, key: key)
    }
}
