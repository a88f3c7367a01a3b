import Foundation

/// The stream versions one write transaction has written so far, by stream id.
///
/// An open-addressing table rather than `[UUID: UInt64]`: a large batch looks every stream up
/// and then records it, and SipHash over the id plus the dictionary's probing cost more than
/// the rest of that bookkeeping. Ids carry random bits (version 4 and 7), so a multiply of
/// their two words spreads them well. A stored version is never 0 (an append writes at least
/// one event), so 0 marks an empty slot. The table starts small, 64 slots (1.5 KiB: a commit
/// of up to 31 streams, the common case, allocates and zeroes no more), and doubles when half
/// full.
struct StreamVersions {
    /// Three words a slot: the id's two words, then the version.
    private var slots: [UInt64]
    private var shift: UInt64
    private(set) var count = 0

    init() {
        shift = 64 - 6
        slots = [UInt64](repeating: 0, count: 3 << 6)
    }

    private var capacity: Int { slots.count / 3 }

    /// The version recorded for `stream`, or `nil` if this transaction has not written it.
    func version(of stream: UUID) -> UInt64? {
        let (a, b) = Self.words(stream)
        return slots.withUnsafeBufferPointer { slots in
            var slot = home(a, b)
            while true {
                let version = slots[3 * slot + 2]
                if version == 0 { return nil }
                if slots[3 * slot] == a && slots[3 * slot + 1] == b { return version }
                slot = (slot + 1) & (capacity - 1)
            }
        }
    }

    /// Records `version` (at least 1) for `stream`.
    mutating func set(_ version: UInt64, for stream: UUID) {
        precondition(version > 0)
        if 2 * (count + 1) > capacity { grow() }
        let (a, b) = Self.words(stream)
        let mask = capacity - 1
        var slot = home(a, b)
        let added = slots.withUnsafeMutableBufferPointer { slots -> Bool in
            while true {
                if slots[3 * slot + 2] == 0 {
                    (slots[3 * slot], slots[3 * slot + 1], slots[3 * slot + 2]) = (a, b, version)
                    return true
                }
                if slots[3 * slot] == a && slots[3 * slot + 1] == b {
                    slots[3 * slot + 2] = version
                    return false
                }
                slot = (slot + 1) & mask
            }
        }
        if added { count += 1 }
    }

    private func home(_ a: UInt64, _ b: UInt64) -> Int {
        Int(truncatingIfNeeded: (((a &* 0x9E37_79B9_7F4A_7C15) ^ b) &* 0xBF58_476D_1CE4_E5B9) >> shift)
    }

    private mutating func grow() {
        let old = slots
        shift -= 1
        slots = [UInt64](repeating: 0, count: 2 * old.count)
        count = 0
        for slot in 0..<(old.count / 3) where old[3 * slot + 2] != 0 {
            set(old[3 * slot + 2], for: Self.uuid(old[3 * slot], old[3 * slot + 1]))
        }
    }

    private static func words(_ stream: UUID) -> (UInt64, UInt64) {
        withUnsafeBytes(of: stream.uuid) {
            ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }

    private static func uuid(_ a: UInt64, _ b: UInt64) -> UUID {
        UUID(uuid: unsafeBitCast((a, b), to: uuid_t.self))
    }
}
