import AuthDomain
import Foundation
import Synchronization

/// Who owned an email claim in a given read snapshot, keyed by the claim's hash (so no
/// address is held in clear). Exact: a hit needs the same snapshot id, and one snapshot id
/// names one committed state of the claim index. Bounded: when full it starts over.
///
/// An open-addressing table rather than a `Dictionary`: the key is a SHA-256 digest, whose
/// first word is already uniformly spread, so it needs no further hashing. Lookups by email
/// come from logins and password resets, a few hundred a second at most, so 16,384 claims
/// (a 1.8 MB table, small enough to stay in the processor's cache) cover minutes of them.
final class EmailOwnerMemo: Sendable {
    private struct Slot {
        var claim: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var owner: uuid_t = UUID.nullUUID
        /// Snapshot + 1; 0 marks an empty slot.
        var snapshot = 0
    }

    private struct Table {
        var slots: [Slot]
        var count = 0
    }

    private let table: Mutex<Table>
    private let mask: Int
    let capacity: Int

    init(capacity: Int = 16_384) {
        self.capacity = max(1, capacity)
        var size = 1
        while size < self.capacity * 2 { size <<= 1 }
        table = Mutex(Table(slots: Array(repeating: Slot(), count: size)))
        mask = size - 1
    }

    private static func words(_ claim: TokenHash) -> (UInt64, UInt64, UInt64, UInt64) {
        withUnsafeBytes(of: claim) { $0.loadUnaligned(as: (UInt64, UInt64, UInt64, UInt64).self) }
    }

    /// The slot holding `claim`, or the empty one where it would go.
    private func find(_ words: (UInt64, UInt64, UInt64, UInt64), in slots: borrowing [Slot]) -> Int {
        var slot = Int(truncatingIfNeeded: words.0) & mask
        while slots[slot].snapshot != 0 && slots[slot].claim != words { slot = (slot + 1) & mask }
        return slot
    }

    func owner(of claim: TokenHash, atSnapshot snapshot: Int) -> UUID? {
        let words = Self.words(claim)
        return table.withLock { table in
            let slot = find(words, in: table.slots)
            guard table.slots[slot].snapshot == snapshot + 1 else { return nil }
            return UUID(uuid: table.slots[slot].owner)
        }
    }

    func remember(_ id: UUID, owns claim: TokenHash, atSnapshot snapshot: Int) {
        let words = Self.words(claim)
        table.withLock { table in
            var slot = find(words, in: table.slots)
            if table.slots[slot].snapshot == 0 {
                if table.count >= capacity {
                    for index in table.slots.indices { table.slots[index] = Slot() }
                    table.count = 0
                    slot = find(words, in: table.slots)
                }
                table.count += 1
            }
            table.slots[slot] = Slot(claim: words, owner: id.uuid, snapshot: snapshot + 1)
        }
    }
}

extension UUID {
    static let nullUUID: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}
