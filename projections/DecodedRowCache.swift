import AuthDomain
import Foundation
import Synchronization

/// Users already decoded (personal fields opened), for reads, keyed by id. Each entry keeps
/// the last read snapshot it was checked against.
///
/// Exact for two reasons. What a read answers (a row and its tail, `UserProjection+Tail`) is
/// a function of its user's stream up to the version it answers, so an entry at that version
/// is that answer, and an entry at an earlier one folds forward to it. And an LMDB
/// snapshot id names one committed state of the environment, so an entry checked against the
/// live generation in snapshot S is still the row in any read transaction at S: such a read
/// skips the row look-up. Only read transactions stamp entries (a write transaction's id
/// names data not committed yet).
///
/// An entry also keeps the sealed personal part its fields were opened from. A row at a later
/// version whose sealed part is byte for byte the same has the same personal fields (the same
/// bytes under the same key open to the same plaintext; every event that changes a personal
/// field seals the part again, under a fresh nonce), so only the row's open part is decoded.
/// A user's key is destroyed only after their erasure, whose row keeps no sealed part: an
/// empty part is never matched, an erased row's part is never matched nor opened, and the
/// erasure drops the user's entry (``forget(_:)``), so no field hidden by an erasure comes
/// back from an entry.
///
/// Bounded: at most `capacity` entries, spread over shards so that readers on different
/// cores rarely meet on a lock; a full shard starts over.
///
/// A log that is emptied and filled with another history (a cluster node's copy made again)
/// breaks the first reason: ``forgetAll(before:)`` then keeps every entry made before from
/// every read of a later snapshot.
///
/// It also holds the projection's other exact read memos, so the projection keeps one object
/// for its reads: the live generation per snapshot and the owners of email claims.
final class DecodedRowCache: Sendable {
    private final class Shard: Sendable {
        let table: Mutex<DecodedRowTable>
        init(capacity: Int) { table = Mutex(DecodedRowTable(capacity: capacity)) }
    }

    private let shards: [Shard]
    /// Reads of a snapshot before this one use no entry, and entries made before it serve no
    /// read (0: no limit).
    private let validFrom = Atomic<Int>(0)
    /// `validFrom` before the last ``forgetAll(before:)``.
    private let beforeForgetting = Mutex<Int?>(nil)
    let generations = LiveGenerationMemo()
    let emailOwners = EmailOwnerMemo()

    init(capacity: Int = 200_000, shards: Int = 16) {
        self.shards = (0..<shards).map { _ in Shard(capacity: max(1, capacity / shards)) }
    }

    private func shard(_ id: UUID) -> Shard {
        // The id's last byte is random in both random and time-ordered ids.
        shards[Int(id.uuid.15) % shards.count]
    }

    /// The user as checked in exactly this snapshot and generation, with no row look-up.
    func state(_ id: UUID, checkedAt stamp: SnapshotStamp) -> UserState? {
        guard let since = usableSince(stamp) else { return nil }
        return shard(id).table.withLock { $0.state(id, checkedAt: stamp, madeSince: since) }
    }

    /// The user if the cached entry is at `version` (the one a read answers); records that it
    /// was checked at `stamp` (a later snapshot replaces an earlier one).
    func state(_ id: UUID, version: UInt64, checkedAt stamp: SnapshotStamp?) -> UserState? {
        guard let since = usableSince(stamp) else { return nil }
        return shard(id).table.withLock { $0.state(id, version: version, checkedAt: stamp, madeSince: since) }
    }

    /// The cached entry for `id` (its state and the sealed part its personal fields were
    /// opened from) if its version is within `versions`; records nothing.
    func entry(
        _ id: UUID, versions: ClosedRange<UInt64>, checkedAt stamp: SnapshotStamp?
    ) -> (state: UserState, sealedPersonal: [UInt8])? {
        guard let since = usableSince(stamp) else { return nil }
        return shard(id).table.withLock { $0.entry(id, versions: versions, madeSince: since) }
    }

    /// The user of the cached entry whose personal fields were opened from exactly `sealed`
    /// (not empty), at any version: the same sealed bytes open to the same fields, so a row
    /// whose events since left its personal part as it was needs no opening.
    func state(_ id: UUID, sealedPersonal sealed: UnsafeRawBufferPointer, checkedAt stamp: SnapshotStamp?) -> UserState?
    {
        guard let since = usableSince(stamp) else { return nil }
        return shard(id).table.withLock { $0.state(id, sealedPersonal: sealed, madeSince: since) }
    }

    func store(_ state: UserState, sealedPersonal: [UInt8] = [], checkedAt stamp: SnapshotStamp?) {
        guard usableSince(stamp) != nil else { return }
        shard(state.id).table.withLock { $0.store(state, sealedPersonal: sealedPersonal, checkedAt: stamp) }
    }

    /// Drops the entry for `id` (its user was erased): it serves no read again, whatever its
    /// version or sealed part.
    func forget(_ id: UUID) {
        shard(id).table.withLock { $0.forget(id) }
    }

    /// From the write transaction `snapshot` on (set before it commits), no entry made before
    /// serves a read, and reads of earlier snapshots use none; every entry is dropped.
    func forgetAll(before snapshot: Int) {
        let previous = validFrom.exchange(snapshot, ordering: .sequentiallyConsistent)
        beforeForgetting.withLock { $0 = previous }
        for shard in shards { shard.table.withLock { $0.removeAll() } }
    }

    /// The transaction that called ``forgetAll(before:)`` did not commit: back to the limit
    /// before it. Safe: no snapshot from that transaction on was ever read, and every entry
    /// made meanwhile is of the history that stays.
    func forgetAbandoned() {
        guard let previous = beforeForgetting.withLock({ $0 }) else { return }
        validFrom.store(previous, ordering: .sequentiallyConsistent)
    }

    /// The write transaction from which on the log holds another history (0: none since the
    /// process started): a reader of that snapshot or a later one that kept anything from
    /// before must build it again.
    var newHistorySince: Int { validFrom.load(ordering: .sequentiallyConsistent) }

    /// The oldest entry a read of `stamp` may use, or `nil` when it may use none.
    private func usableSince(_ stamp: SnapshotStamp?) -> Int? {
        let since = validFrom.load(ordering: .sequentiallyConsistent)
        guard since > 0 else { return 0 }
        guard let stamp, stamp.snapshot >= since else { return nil }
        return since
    }
}

/// A read snapshot (LMDB transaction id) and the live generation in it.
struct SnapshotStamp: Hashable, Sendable {
    var snapshot: Int
    var generation: Int
}
