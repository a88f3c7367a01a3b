import Foundation

/// The stream heads one write transaction has written so far, by stream id: each stream's
/// version and the position of its last event.
///
/// An open-addressing table rather than `[UUID: StreamHead]`: a large batch looks every
/// stream up and then records it, and SipHash over the id plus the dictionary's probing cost
/// more than the rest of that bookkeeping. A stored version is never 0 (an append writes at
/// least one event), so 0 marks an empty slot. The table starts small, 64 slots (2 KiB: a
/// commit of up to 31 streams, the common case, allocates and zeroes no more), and doubles
/// when half full.
///
/// Rule: an id's slot depends on a seed drawn at random for each process, mixed in before
/// the id's words are mixed. The ids may come from a log's file (moving a format-1 log reads
/// them from its events), and someone who can write the file could otherwise choose ids that
/// all land in one run of slots, making every look-up walk it: the move's time would grow
/// with the square of such events, minutes to hours where it takes a second.
struct StreamHeads {
    /// Four words a slot: the id's two words, the version, the position.
    private var slots: [UInt64]
    private var shift: UInt64
    private(set) var count = 0

    init() {
        shift = 64 - 6
        slots = [UInt64](repeating: 0, count: 4 << 6)
    }

    private var capacity: Int { slots.count / 4 }

    /// The head recorded for `stream`, or `nil` if this transaction has not written it.
    func head(of stream: UUID) -> StreamHead? {
        let (a, b) = Self.words(stream)
        return slots.withUnsafeBufferPointer { slots in
            var slot = home(a, b)
            while true {
                let version = slots[4 * slot + 2]
                if version == 0 { return nil }
                if slots[4 * slot] == a && slots[4 * slot + 1] == b {
                    return StreamHead(version: version, position: slots[4 * slot + 3])
                }
                slot = (slot + 1) & (capacity - 1)
            }
        }
    }

    /// Records `head` (its version at least 1) for `stream`.
    mutating func set(_ head: StreamHead, for stream: UUID) {
        precondition(head.version > 0)
        if 2 * (count + 1) > capacity { grow() }
        let (a, b) = Self.words(stream)
        let mask = capacity - 1
        var slot = home(a, b)
        let added = slots.withUnsafeMutableBufferPointer { slots -> Bool in
            while true {
                if slots[4 * slot + 2] == 0 {
                    (slots[4 * slot], slots[4 * slot + 1]) = (a, b)
                    (slots[4 * slot + 2], slots[4 * slot + 3]) = (head.version, head.position)
                    return true
                }
                if slots[4 * slot] == a && slots[4 * slot + 1] == b {
                    (slots[4 * slot + 2], slots[4 * slot + 3]) = (head.version, head.position)
                    return false
                }
                slot = (slot + 1) & mask
            }
        }
        if added { count += 1 }
    }

    /// The most slots a look-up can visit: the longest run of filled slots (for tests).
    var longestRun: Int {
        var longest = 0
        var run = 0
        // Twice round, so that a run wrapping past the last slot is counted whole.
        for index in 0..<(2 * capacity) {
            run = slots[4 * (index % capacity) + 2] == 0 ? 0 : run + 1
            longest = max(longest, min(run, capacity))
        }
        return longest
    }

    private static let seed: (UInt64, UInt64) = {
        var random = SystemRandomNumberGenerator()
        return (random.next(), random.next())
    }()

    private func home(_ a: UInt64, _ b: UInt64) -> Int {
        Int(truncatingIfNeeded: Self.mix(Self.mix(a ^ Self.seed.0) ^ b ^ Self.seed.1) >> shift)
    }

    /// A bijection of 64-bit words in which each input bit flips about half the output bits
    /// (MurmurHash3's 64-bit finalizer).
    private static func mix(_ word: UInt64) -> UInt64 {
        var x = word
        x ^= x >> 33
        x &*= 0xFF51_AFD7_ED55_8CCD
        x ^= x >> 33
        x &*= 0xC4CE_B9FE_1A85_EC53
        x ^= x >> 33
        return x
    }

    private mutating func grow() {
        let old = slots
        shift -= 1
        slots = [UInt64](repeating: 0, count: 2 * old.count)
        count = 0
        for slot in 0..<(old.count / 4) where old[4 * slot + 2] != 0 {
            set(
                StreamHead(version: old[4 * slot + 2], position: old[4 * slot + 3]),
                for: Self.uuid(old[4 * slot], old[4 * slot + 1]))
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

/// A stream's version and the position of its last event (both 0 for a stream with none).
struct StreamHead: Equatable {
    var version: UInt64
    var position: UInt64

    static let none = StreamHead(version: 0, position: 0)

    /// Whether a stored head can be real: each version is an event of its own at a position
    /// of its own, so a version past its position is forged, as is a position no later one
    /// can follow (a writer adds one to both).
    var isPlausible: Bool { version >= 1 && version <= position && position < .max }
}
