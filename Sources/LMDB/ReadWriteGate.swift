import Glibc
import Synchronization

/// Shared/exclusive lock around every transaction of one `Environment`.
///
/// `mdb_env_set_mapsize` may only run while this process has no transaction open, so each
/// transaction holds the gate shared for its lifetime and a resize (or a close) takes it
/// exclusive. The lock lives at a stable address because transactions keep a pointer to it.
///
/// Rules:
/// - glibc's lock lets a reader in while a writer waits. Reads that overlap without a pause
///   (a flood of them) would then keep a resize out for as long as they come, and every write
///   waits behind the resize. So while an exclusive taker waits, a new shared taker first
///   gives way: it pauses until the exclusive taker has had the gate, for at most
///   ``giveWayLimit``.
/// - Giving way is bounded, never a block: a read begun inside a read the same thread holds
///   must not wait for a writer that waits for that outer read. Such a nested read is late
///   by at most the limit, once per resize.
final class ReadWriteGate: @unchecked Sendable {
    let lock: UnsafeMutablePointer<pthread_rwlock_t>
    /// Exclusive takers waiting for the gate.
    private let exclusiveWaiting = Atomic<Int>(0)
    /// How long a new shared taker gives way to a waiting exclusive taker, in nanoseconds.
    static let giveWayLimit: Int64 = 50_000_000

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Takes the gate shared, after giving way to a waiting exclusive taker (the rules above).
    func lockShared() {
        if exclusiveWaiting.load(ordering: .acquiring) > 0 { giveWay() }
        pthread_rwlock_rdlock(lock)
    }

    func lockExclusive() {
        exclusiveWaiting.add(1, ordering: .sequentiallyConsistent)
        pthread_rwlock_wrlock(lock)
        exclusiveWaiting.subtract(1, ordering: .sequentiallyConsistent)
    }

    func unlockExclusive() { pthread_rwlock_unlock(lock) }

    /// Exclusive takers waiting for the gate now (for tests).
    var waitingExclusive: Int { exclusiveWaiting.load(ordering: .acquiring) }

    private func giveWay() {
        let deadline = Self.now() + Self.giveWayLimit
        var pause = timespec(tv_sec: 0, tv_nsec: 100_000)
        while exclusiveWaiting.load(ordering: .acquiring) > 0 && Self.now() < deadline {
            nanosleep(&pause, nil)
        }
    }

    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}

extension UnsafeMutablePointer<pthread_rwlock_t> {
    func unlockShared() { pthread_rwlock_unlock(self) }
}
