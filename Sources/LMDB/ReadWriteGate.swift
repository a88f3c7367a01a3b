import Glibc
import Synchronization

/// Shared/exclusive lock around every transaction of one `Environment`.
///
/// `mdb_env_set_mapsize` may only run while this process has no transaction open, so each
/// transaction (and each use of the environment's handle) holds the gate shared for its
/// lifetime and a resize (or a close) takes it exclusive. The lock lives at a stable address
/// because transactions keep a pointer to it.
///
/// Rules:
/// - glibc's lock lets a reader in while a writer waits. Reads that overlap without a pause (a
///   flood of them) would then keep a resize out for as long as they come, and every write
///   waits behind the resize. So for the first ``giveWayLimit`` of every ``giveWayPeriod`` of
///   an exclusive taker's wait, new shared takers pause until it has had the gate; the rest of
///   the time they go on at full speed, so a long transaction that holds the resize off does
///   not slow every other read, and the resize gets its turn again once that one has ended.
/// - Giving way is bounded, never a block: a read begun inside a read the same thread holds
///   must not wait for a writer that waits for that outer read. Such a nested read is late by
///   at most what is left of the window.
final class ReadWriteGate: @unchecked Sendable {
    let lock: UnsafeMutablePointer<pthread_rwlock_t>
    /// When the exclusive takers' current wait began (monotonic nanoseconds); 0 when none waits.
    private let waitingSince = Atomic<Int64>(0)
    /// Exclusive takers waiting, under its own lock: they are rare, readers only load the time.
    private let exclusiveWaiting = Mutex<Int>(0)
    /// How long, at the start of each period of an exclusive taker's wait, new shared takers
    /// give way to it (nanoseconds).
    static let giveWayLimit: Int64 = 50_000_000
    static let giveWayPeriod: Int64 = 1_000_000_000

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
        let since = waitingSince.load(ordering: .acquiring)
        if since != 0 {
            let now = Self.now()
            let phase = max(0, now - since) % Self.giveWayPeriod
            if phase < Self.giveWayLimit { giveWay(until: now - phase + Self.giveWayLimit) }
        }
        pthread_rwlock_rdlock(lock)
    }

    func lockExclusive() {
        exclusiveWaiting.withLock { waiting in
            waiting += 1
            if waiting == 1 { waitingSince.store(Self.now(), ordering: .releasing) }
        }
        pthread_rwlock_wrlock(lock)
        exclusiveWaiting.withLock { waiting in
            waiting -= 1
            if waiting == 0 { waitingSince.store(0, ordering: .releasing) }
        }
    }

    func unlockExclusive() {
        // Another taker still waits: its windows start when this one lets go (readers are
        // held off by the lock itself until then).
        exclusiveWaiting.withLock { waiting in
            if waiting > 0 { waitingSince.store(Self.now(), ordering: .releasing) }
        }
        pthread_rwlock_unlock(lock)
    }

    /// Exclusive takers waiting for the gate now (for tests).
    var waitingExclusive: Int { exclusiveWaiting.withLock { $0 } }

    private func giveWay(until deadline: Int64) {
        var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
        while waitingSince.load(ordering: .acquiring) != 0 && Self.now() < deadline {
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
