import CLMDB
import Synchronization

/// Read transactions that have ended with `mdb_txn_reset`, kept for the next read.
///
/// Beginning a read transaction allocates it and takes a reader slot under LMDB's reader
/// mutex; renewing a reset one (`mdb_txn_renew`) only publishes a new snapshot id in the slot
/// it kept. A reset transaction holds no snapshot (it pins no pages) and no gate (it never
/// holds back ``Environment/setMapSize(_:)``); `MDB_NOTLS` lets any thread renew it.
///
/// Bounded: at most `capacity` idle transactions (each keeps one of the environment's reader
/// slots); one ended while the pool is full is aborted instead. The most recently ended one
/// waits in a single atomic word, so a thread reading alone takes and returns it with one
/// atomic operation each instead of a lock.
final class ReadTransactionPool: Sendable {
    // Handles as bit patterns: plain integers cross the lock without region checks. 0: none.
    private let latest = Atomic<Int>(0)
    private let idle: Mutex<[Int]>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        var handles: [Int] = []
        handles.reserveCapacity(capacity)
        self.idle = Mutex(handles)
    }

    /// An idle (reset) transaction to renew, or `nil` when there is none.
    func take() -> OpaquePointer? {
        let fast = latest.exchange(0, ordering: .acquiring)
        return OpaquePointer(bitPattern: fast != 0 ? fast : idle.withLock { $0.popLast() } ?? 0)
    }

    /// Ends `handle`'s snapshot and keeps it for a later read, or aborts it when the pool is
    /// full. Called while the caller still holds the gate, so a closing environment finds
    /// every pooled transaction already here.
    func recycle(_ handle: OpaquePointer) {
        mdb_txn_reset(handle)
        let kept =
            capacity > 0
            && (latest.compareExchange(expected: 0, desired: Int(bitPattern: handle), ordering: .releasing).exchanged
                || idle.withLock { handles in
                    guard handles.count + 1 < capacity else { return false }  // the atomic word holds one
                    handles.append(Int(bitPattern: handle))
                    return true
                })
        if !kept { mdb_txn_abort(handle) }
    }

    /// Frees every idle transaction: before the environment closes, under its exclusive gate.
    func drain() {
        let handles =
            idle.withLock { handles in
                defer { handles.removeAll() }
                return handles
            } + [latest.exchange(0, ordering: .acquiring)]
        for handle in handles.compactMap(OpaquePointer.init(bitPattern:)) { mdb_txn_abort(handle) }
    }
}
