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
    /// Where a read transaction from ``Environment/read(_:)`` goes when it ends (reset, not
    /// freed); `nil` for the others, which are aborted. Unretained, like `gate`: both belong
    /// to the environment, which outlives its transactions.
    let pool: Unmanaged<ReadTransactionPool>?

    init(
        handle: OpaquePointer, gate: UnsafeMutablePointer<pthread_rwlock_t>, isReadOnly: Bool,
        pool: ReadTransactionPool? = nil
    ) {
        self.handle = handle
        self.gate = gate
        self.isReadOnly = isReadOnly
        self.pool = pool.map { Unmanaged.passUnretained($0) }
    }

    /// The id of the snapshot this transaction reads (for a write transaction, the id its
    /// commit will have). Two read transactions with the same id see the same data.
    public var snapshotID: Int { mdb_txn_id(handle) }

    /// Commits; for a write transaction this returns after the data is synced. The
    /// transaction is gone even if this throws.
    public consuming func commit() throws(LMDBError) {
        let handle = self.handle
        let gate = self.gate
        discard self
        let rc = mdb_txn_commit(handle)  // frees a pooled read transaction too; the pool makes another
        gate.unlockShared()
        try check(rc)
    }

    /// Abandons every change made in this transaction.
    public consuming func abort() {
        let handle = self.handle
        let gate = self.gate
        let pool = self.pool
        discard self
        Self.end(handle, gate: gate, pool: pool)
    }

    deinit {
        Self.end(handle, gate: gate, pool: pool)
    }

    /// Aborts or recycles the handle, then releases the gate: a pooled handle is back in its
    /// pool before a resize or a close can take the gate.
    @inline(__always)
    private static func end(
        _ handle: OpaquePointer, gate: UnsafeMutablePointer<pthread_rwlock_t>,
        pool: Unmanaged<ReadTransactionPool>?
    ) {
        if let pool { pool._withUnsafeGuaranteedRef { $0.recycle(handle) } } else { mdb_txn_abort(handle) }
        gate.unlockShared()
    }
}
