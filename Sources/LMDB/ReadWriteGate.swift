import Glibc

/// Shared/exclusive lock around every transaction of one `Environment`.
///
/// `mdb_env_set_mapsize` may only run while this process has no transaction open, so each
/// transaction holds the gate shared for its lifetime and a resize takes it exclusive.
/// The lock lives at a stable address because transactions keep a pointer to it.
final class ReadWriteGate: @unchecked Sendable {
    let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func lockExclusive() { pthread_rwlock_wrlock(lock) }
    func unlockExclusive() { pthread_rwlock_unlock(lock) }
}

extension UnsafeMutablePointer<pthread_rwlock_t> {
    func lockShared() { pthread_rwlock_rdlock(self) }
    func unlockShared() { pthread_rwlock_unlock(self) }
}
