import CLMDB
import Glibc

extension Environment {
    /// Runs `body` in a read transaction that ends when `body` returns. The transaction is a
    /// pooled one renewed on a fresh snapshot (or a new one when the pool is empty); ending it
    /// resets it back into the pool.
    @inlinable
    public func read<Result>(_ body: (borrowing Transaction) throws -> Result) throws -> Result {
        let txn = try beginPooledRead()
        return try body(txn)  // dropping `txn` resets it into the pool
    }

    /// A read transaction on the latest snapshot, from the pool when it has one.
    @usableFromInline
    func beginPooledRead() throws(LMDBError) -> Transaction {
        while true {
            gate.lockShared()
            if isClosed {
                gate.lock.unlockShared()
                throw LMDBError(code: EINVAL)
            }
            var rc: Int32
            var txn = readPool.take()
            if let pooled = txn {
                rc = mdb_txn_renew(pooled)
                // A failed renew leaves the transaction reset; it is freed, not pooled again.
                if rc != 0 { mdb_txn_abort(pooled) }
            } else {
                rc = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn)
            }
            if rc == 0, let txn {
                return Transaction(handle: txn, gate: gate.lock, isReadOnly: true, pool: readPool)
            }
            gate.lock.unlockShared()
            guard rc == MDB_MAP_RESIZED else { throw LMDBError(code: rc) }
            try adoptMapSize()
        }
    }
}
