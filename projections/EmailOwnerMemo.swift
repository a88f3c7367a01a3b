import Foundation
import Synchronization

/// Who owned an email address in a given read snapshot, keyed by the address exactly as the
/// caller gave it. Exact: a hit needs the same snapshot id, and one snapshot id names one
/// committed state of the claim index. Bounded: when full it starts over.
///
/// Keyed by the given string, not by the claim: a hit then skips parsing the address and
/// hashing its lookup key (SHA-256 through OpenSSL, about 0.3 µs of a 1 µs read). Two
/// spellings of one address take two entries, each exact. The addresses held here are no
/// more than the decoded-row cache beside it already holds (threat-model.md: what a live
/// process keeps in memory).
final class EmailOwnerMemo: Sendable {
    private struct Entry {
        var owner: UUID
        var snapshot: Int
    }

    private let entries: Mutex<[String: Entry]>
    let capacity: Int

    init(capacity: Int = 16_384) {
        self.capacity = max(1, capacity)
        entries = Mutex([:])
    }

    func owner(of address: String, atSnapshot snapshot: Int) -> UUID? {
        entries.withLock { entries in
            guard let entry = entries[address], entry.snapshot == snapshot else { return nil }
            return entry.owner
        }
    }

    func remember(_ id: UUID, owns address: String, atSnapshot snapshot: Int) {
        entries.withLock { entries in
            if entries.count >= capacity, entries[address] == nil { entries.removeAll(keepingCapacity: true) }
            entries[address] = Entry(owner: id, snapshot: snapshot)
        }
    }
}
