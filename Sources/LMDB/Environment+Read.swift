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
                if mayHaveCopiedALaterCommit(txn) {
                    mdb_txn_abort(txn)
                    gate.lock.unlockShared()
                    continue
                }
                return Transaction(handle: txn, gate: gate.lock, isReadOnly: true, pool: readPool)
            }
            gate.lock.unlockShared()
            guard rc == MDB_MAP_RESIZED else { throw LMDBError(code: rc) }
            try adoptMapSize()
        }
    }

    /// Whether a read transaction just begun may hold another commit's database roots than
    /// its snapshot's: then it is begun again.
    ///
    /// LMDB 0.9 begins a read by taking the latest commit's id and then copying the roots from
    /// that commit's meta page, with no second look. Commits write the two meta pages in turn,
    /// so two commits between those steps (a reader preempted there, on a loaded machine)
    /// write that page again under the copy: the reader holds the later commit's roots, or a
    /// mix, labelled with the older id. Caches that trust a snapshot's id (the decoded rows',
    /// the email owners') would then hand a later state to readers of the older snapshot, and
    /// a mix may not read at all. Looked at once the transaction is begun: if the environment
    /// is two or more commits past its id, the copy may have been overwritten. What is left is
    /// a copy overlapping the second commit's own meta write, before that write reaches the
    /// commit's id.
    @usableFromInline
    func mayHaveCopiedALaterCommit(_ txn: OpaquePointer) -> Bool {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_last_txnid >= mdb_txn_id(txn) + 2
    }
}
