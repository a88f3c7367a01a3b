import AuthDomain
import Foundation
import Glibc

/// One shard's storage for ``DecodedRowCache``: a small open-addressing index over a dense
/// array of entries.
///
/// Built for the hot path of a read: the index holds 8 bytes per slot (a fingerprint of the
/// id and the entry's position), so it mostly stays in the processor's cache, and a hit then
/// reads one entry. The id's two words are mixed with one multiplication instead of SipHash
/// (ids are random, or time-ordered with random low bits); the entry's own id settles a
/// fingerprint match. Past a few thousand entries, their memory is reserved in full and
/// advised onto huge pages: hits land at random across tens of megabytes, far more than the
/// TLB covers with 4 KiB pages.
/// At most `capacity` entries; storing one more starts over.
struct DecodedRowTable {
    struct Entry {
        /// (snapshot + 1) << 1 | generation of the last check in a read snapshot; 0: none.
        var checked: Int
        /// The read snapshot the entry was decoded in (0 for a write transaction's).
        var origin: Int
        var state: UserState
        /// The row's sealed personal part the state's personal fields were opened from.
        var sealedPersonal: [UInt8]
    }

    /// Fingerprint in the high half, entry position + 1 in the low half; 0: empty.
    private var slots: [UInt64]
    private var entries: [Entry] = []
    private let mask: Int
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, min(capacity, Int(UInt32.max - 1)))
        var size = 1
        while size < self.capacity + self.capacity / 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
    }

    /// Entries held before the table reserves its full capacity on huge pages: a small
    /// table (a test, a young service) stays small, a big one stops paying TLB misses.
    static let hugePageThreshold = 4_096

    /// Reserves the full capacity, so later appends never move the entries out of the
    /// advised range, and advises it onto huge pages.
    private mutating func reserveOnHugePages() {
        guard entries.capacity < capacity else { return }
        // Advised before anything is written there, so its pages are huge from the start.
        var grown: [Entry] = []
        grown.reserveCapacity(capacity)
        let reserved = capacity * MemoryLayout<Entry>.stride
        grown.withUnsafeMutableBufferPointer {
            advise(MADV_HUGEPAGE, wholeBlocksOf: 2 << 20, in: UnsafeMutableRawPointer($0.baseAddress), count: reserved)
        }
        grown.append(contentsOf: entries)
        entries = grown
    }

    static func pack(_ stamp: SnapshotStamp?) -> Int {
        stamp.map { ($0.snapshot + 1) << 1 | $0.generation & 1 } ?? 0
    }

    private static func mix(_ id: UUID) -> UInt64 {
        let (high, low) = withUnsafeBytes(of: id.uuid) {
            ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
        return (high ^ low) &* 0x9E37_79B9_7F4A_7C15
    }

    /// The entry position holding `id`, and the slot it is in (or the empty slot for it).
    private func find(_ id: UUID) -> (slot: Int, entry: Int?) {
        let mixed = Self.mix(id)
        let fingerprint = mixed & 0xFFFF_FFFF_0000_0000
        var slot = Int(truncatingIfNeeded: mixed >> 16) & mask
        while true {
            let current = slots[slot]
            if current == 0 { return (slot, nil) }
            if current & 0xFFFF_FFFF_0000_0000 == fingerprint {
                let entry = Int(current & 0xFFFF_FFFF) - 1
                if entries[entry].state.id == id { return (slot, entry) }
            }
            slot = (slot + 1) & mask
        }
    }

    func state(_ id: UUID, checkedAt stamp: SnapshotStamp, madeSince origin: Int = 0) -> UserState? {
        guard let entry = find(id).entry, entries[entry].checked == Self.pack(stamp), entries[entry].origin >= origin
        else { return nil }
        return entries[entry].state
    }

    mutating func state(
        _ id: UUID, version: UInt64, checkedAt stamp: SnapshotStamp?, madeSince origin: Int = 0
    ) -> UserState? {
        guard let entry = find(id).entry, entries[entry].state.version == version, entries[entry].origin >= origin
        else { return nil }
        let packed = Self.pack(stamp)
        if packed > entries[entry].checked { entries[entry].checked = packed }  // the later snapshot
        return entries[entry].state
    }

    /// The state and sealed part of the entry for `id` if its version is within `versions`.
    func entry(
        _ id: UUID, versions: ClosedRange<UInt64>, madeSince origin: Int = 0
    ) -> (state: UserState, sealedPersonal: [UInt8])? {
        guard let entry = find(id).entry, versions.contains(entries[entry].state.version),
            entries[entry].origin >= origin
        else { return nil }
        return (entries[entry].state, entries[entry].sealedPersonal)
    }

    /// The state of the entry for `id` whose personal fields were opened from exactly
    /// `sealed` (not empty), whatever its version.
    func state(_ id: UUID, sealedPersonal sealed: UnsafeRawBufferPointer, madeSince origin: Int = 0) -> UserState? {
        guard !sealed.isEmpty, let entry = find(id).entry, entries[entry].origin >= origin,
            entries[entry].sealedPersonal.withUnsafeBytes({
                $0.count == sealed.count && memcmp($0.baseAddress!, sealed.baseAddress!, sealed.count) == 0
            })
        else { return nil }
        return entries[entry].state
    }

    mutating func store(_ state: UserState, sealedPersonal: [UInt8] = [], checkedAt stamp: SnapshotStamp?) {
        let found = find(state.id)
        let made = Entry(
            checked: Self.pack(stamp), origin: stamp?.snapshot ?? 0, state: state, sealedPersonal: sealedPersonal)
        if let entry = found.entry {
            entries[entry] = made
            return
        }
        var slot = found.slot
        if entries.count >= capacity {
            removeAll()
            slot = find(state.id).slot
        }
        if entries.count == Self.hugePageThreshold && capacity > Self.hugePageThreshold { reserveOnHugePages() }
        slots[slot] = Self.mix(state.id) & 0xFFFF_FFFF_0000_0000 | UInt64(entries.count + 1)
        entries.append(made)
    }

    /// The id of an entry dropped by ``forget(_:)``: no user has it (ids are random or
    /// time-ordered), so probes pass over the entry's slot as over another user's.
    static let vacant = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    /// Drops the entry for `id`: its slot stays (the probes of other ids pass through it), the
    /// entry it points to is emptied and matches no read; a later store for `id` takes a new
    /// entry. The emptied entry counts toward `capacity` until the table starts over.
    mutating func forget(_ id: UUID) {
        guard let entry = find(id).entry else { return }
        entries[entry] = Entry(checked: 0, origin: 0, state: UserState(id: Self.vacant), sealedPersonal: [])
    }

    /// Drops every entry, keeping the memory.
    mutating func removeAll() {
        for index in slots.indices { slots[index] = 0 }
        entries.removeAll(keepingCapacity: true)
    }
}
