import CLMDB
import Glibc

/// A live LMDB transaction. It cannot be copied, and ``commit()`` and ``abort()`` consume it,
/// so it cannot be ended twice or used after it ended; one dropped without either is aborted.
///
/// Keep a transaction inside one synchronous body: never hold one across an `await`.
/// Buffers returned by reads point into the memory map and are valid only until the
/// transaction ends (or, in a write transaction, until the next write).
public struct Transaction: ~Copyable {
    let handle: OpaquePointer
    let gate: UnsafeMutablePointer<pthread_rwlock_t>
    public let isReadOnly: Bool

    /// Commits; for a write transaction this returns after the data is synced. The
    /// transaction is gone even if this throws.
    public consuming func commit() throws(LMDBError) {
        let handle = self.handle
        let gate = self.gate
        discard self
        let rc = mdb_txn_commit(handle)
        gate.unlockShared()
        try check(rc)
    }

    /// Abandons every change made in this transaction.
    public consuming func abort() {
        let handle = self.handle
        let gate = self.gate
        discard self
        mdb_txn_abort(handle)
        gate.unlockShared()
    }

    deinit {
        mdb_txn_abort(handle)
        gate.unlockShared()
    }
}
