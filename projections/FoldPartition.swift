import AuthDomain
import DataProtection
import EventLog
import Foundation

/// A data key's 32 bytes, held inline (on the stack during the walk).
typealias DataKeyBytes = (UInt64, UInt64, UInt64, UInt64)

/// One partition of a rebuild's fold: the users whose ids fall in it, folded in memory.
///
/// States sit in one contiguous array, in the order users were first met, and are found
/// through an open-addressing table of indexes keyed by the id's last eight bytes (random in
/// every UUID version), so a look-up is a multiply and mostly one probe. A `Dictionary`
/// keyed by `UUID` spent more time hashing (SipHash), probing and growing (copying every
/// state) than the fold spent folding. Data keys sit in one flat buffer beside the states.
struct FoldPartition {
    private(set) var states: [UserState] = []
    /// 32 bytes a state: its data key, if it has one (`hasKey`).
    private var keyBytes: [UInt8] = []
    private var hasKey: [Bool] = []
    /// Per slot: state index + 1 in the low half (0: an empty slot), a check value of the id
    /// in the high half. Kept at most half full.
    private var table: [UInt64]
    private var shift: UInt64

    init(expectedUsers: Int) {
        var bits: UInt64 = 10
        while (1 << bits) < expectedUsers * 2 { bits += 1 }
        table = Self.emptyTable(count: 1 << bits)
        shift = 64 - bits
        // Hundreds of megabytes for a large log: mapped in up front (see `prefault`).
        states = Array(prefaultedCapacity: expectedUsers)
        keyBytes = Array(prefaultedCapacity: expectedUsers * 32)
        hasKey = Array(prefaultedCapacity: expectedUsers)
    }

    private static func emptyTable(count: Int) -> [UInt64] {
        var table = [UInt64](prefaultedCapacity: count)
        table.append(contentsOf: repeatElement(0, count: count))
        return table
    }

    var count: Int { states.count }

    /// The index of `id`'s state, adding an empty state the first time.
    mutating func index(of id: UUID) -> Int {
        let mask = table.count - 1
        let (hash, check) = Self.hash(id)
        var slot = Int(truncatingIfNeeded: hash >> shift)
        while true {
            let entry = table[slot]
            if entry == 0 { break }
            // The high half holds the other id word's low bits: a mismatch skips the state. A
            // match is confirmed on the state's own id, in the cache line the fold touches next.
            if UInt32(truncatingIfNeeded: entry >> 32) == check,
                states[Int(UInt32(truncatingIfNeeded: entry)) - 1].id == id
            {
                return Int(UInt32(truncatingIfNeeded: entry)) - 1
            }
            slot = (slot + 1) & mask
        }
        let index = states.count
        precondition(index < Int(UInt32.max), "too many users in one fold partition")
        states.append(UserState(id: id))
        keyBytes.append(contentsOf: repeatElement(0, count: 32))
        hasKey.append(false)
        table[slot] = UInt64(check) << 32 | UInt64(index + 1)
        if states.count * 2 > table.count { grow() }
        return index
    }

    /// Records `id`'s data key (before the walk, from the key store).
    mutating func addKey(_ key: UnsafeRawBufferPointer, for id: UUID) {
        precondition(key.count == 32)
        let index = index(of: id)
        keyBytes.withUnsafeMutableBytes {
            $0.baseAddress!.advanced(by: index * 32).copyMemory(from: key.baseAddress!, byteCount: 32)
        }
        hasKey[index] = true
    }

    /// Calls `body` with the data key of the state at `index`, or `nil` if it has none.
    func withKey<Result>(at index: Int, _ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        guard hasKey[index] else { return try body(nil) }
        return try keyBytes.withUnsafeBytes {
            try body(UnsafeRawBufferPointer(rebasing: $0[(index * 32)..<(index * 32 + 32)]))
        }
    }

    /// Copies the data key of the state at `index` into `key`; `false` if it has none. For
    /// the walk, which opens the event after the copy: a closure over the key buffer would
    /// keep the partition's arrays retained around every event.
    func copyKey(at index: Int, into key: inout DataKeyBytes) -> Bool {
        guard hasKey[index] else { return false }
        keyBytes.withUnsafeBytes { bytes in
            withUnsafeMutableBytes(of: &key) {
                $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[(index * 32)..<(index * 32 + 32)]))
            }
        }
        return true
    }

    /// Calls `body` with the state at `index` in place, not copied (448 bytes with several
    /// strings to retain and release), and its data key.
    func withState<Result>(
        at index: Int, _ body: (UnsafePointer<UserState>, UnsafeRawBufferPointer?) throws -> Result
    ) rethrows -> Result {
        try states.withUnsafeBufferPointer { states in
            try withKey(at: index) { try body(states.baseAddress! + index, $0) }
        }
    }

    /// Folds `event`, recorded at `time`, into the state at `index`, in place.
    mutating func apply(_ event: UserEvent, at time: Timestamp, to index: Int) {
        states[index].apply(event, at: time)
    }

    /// Overwrites the key bytes: the fold is done with them.
    mutating func forgetKeys() {
        keyBytes.withUnsafeMutableBytes { cleanse($0) }
        keyBytes = []
        hasKey = []
    }

    private mutating func grow() {
        let bits = 64 - shift + 1
        shift = 64 - bits
        table = Self.emptyTable(count: 1 << bits)
        let mask = table.count - 1
        for (index, state) in states.enumerated() {
            let (hash, check) = Self.hash(state.id)
            var slot = Int(truncatingIfNeeded: hash >> shift)
            while table[slot] != 0 { slot = (slot + 1) & mask }
            table[slot] = UInt64(check) << 32 | UInt64(index + 1)
        }
    }

    /// A multiplicative hash of the id's last eight bytes (random in every UUID version), and
    /// 32 bits of the first eight to tell ids apart in the table without loading them.
    @inline(__always)
    private static func hash(_ id: UUID) -> (UInt64, UInt32) {
        withUnsafeBytes(of: id.uuid) {
            let low = $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            let high = $0.loadUnaligned(as: UInt64.self)
            return (low &* 0x9E37_79B9_7F4A_7C15, UInt32(truncatingIfNeeded: high ^ (high >> 32)))
        }
    }
}
