import AuthDomain
import Foundation
import Synchronization

/// Users already decoded (and their personal fields opened), keyed by id and stream version.
///
/// A row's content is a function of its user's stream up to its version, so a hit is exact:
/// a read still fetches the row to learn its current version, but skips decoding it and
/// opening the sealed part. Bounded: when full it starts over.
final class DecodedRowCache: Sendable {
    private let entries = Mutex<[UUID: UserState]>([:])
    let capacity: Int

    init(capacity: Int = 200_000) {
        self.capacity = capacity
    }

    func state(_ id: UUID, version: UInt64) -> UserState? {
        entries.withLock { $0[id] }.flatMap { $0.version == version ? $0 : nil }
    }

    func store(_ state: UserState) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[state.id] = state
        }
    }
}
