import Dispatch
import Synchronization

/// Token buckets by key (a client address, an account, or both): each key may spend
/// `capacity` tokens at once and earns them back evenly over `period` seconds.
///
/// Rules:
/// - A key never seen, or forgotten, starts with a full bucket.
/// - At most `maximumKeys` buckets are held. A new key beyond that replaces the bucket used
///   least recently, so that many fresh keys can push out only idle buckets, never reset the
///   limits of everyone at once. Every operation is O(1): a dictionary from key to slot and a
///   doubly linked list of slots in order of use.
/// - The clock is injected (seconds, monotonic); by default the system's uptime.
final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    let capacity: Double
    let period: Double
    let maximumKeys: Int
    private let clock: @Sendable () -> Double
    private let table: Mutex<Table>

    init(
        capacity: Int, period: Double, maximumKeys: Int = 100_000,
        clock: @escaping @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    ) {
        precondition(capacity > 0 && period > 0 && maximumKeys > 0, "a rate limiter needs positive limits")
        self.capacity = Double(capacity)
        self.period = period
        self.maximumKeys = maximumKeys
        self.clock = clock
        self.table = Mutex(Table())
    }

    /// Takes one token from `key`'s bucket: `nil` when there was one, otherwise the seconds
    /// until there will be (the bucket is left as it was).
    func take(_ key: Key) -> Double? {
        let now = clock()
        let rate = capacity / period
        return table.withLock { table -> Double? in
            let slot = table.touch(key, fullAt: now, capacity: capacity, maximumKeys: maximumKeys)
            var bucket = table.slots[slot]
            bucket.tokens = min(capacity, bucket.tokens + max(0, now - bucket.updated) * rate)
            bucket.updated = now
            defer { table.slots[slot] = bucket }
            guard bucket.tokens >= 1 else { return (1 - bucket.tokens) / rate }
            bucket.tokens -= 1
            return nil
        }
    }

    /// Gives back a token taken for a request that turned out not to count (a login that
    /// succeeded), never filling the bucket past its capacity.
    func refund(_ key: Key) {
        table.withLock { table in
            guard let slot = table.index[key] else { return }
            table.slots[slot].tokens = min(capacity, table.slots[slot].tokens + 1)
        }
    }

    /// Buckets held now.
    var count: Int { table.withLock { $0.index.count } }

    /// Whether `key` has a bucket now (it was used and not yet evicted).
    func holds(_ key: Key) -> Bool { table.withLock { $0.index[key] != nil } }

    /// The buckets, and the order they were last used in, as a linked list threaded through
    /// an array of slots (no allocation per key once the table has grown).
    private struct Table {
        struct Slot {
            var key: Key
            var tokens: Double
            var updated: Double
            /// The slot used just before this one and just after it (-1: none).
            var older = -1
            var newer = -1
        }
        var index: [Key: Int] = [:]
        var slots: [Slot] = []
        var newest = -1
        var oldest = -1

        /// The slot of `key`, made the most recently used; a new key gets a full bucket, in a
        /// new slot or in the least recently used one when the table is full.
        mutating func touch(_ key: Key, fullAt now: Double, capacity: Double, maximumKeys: Int) -> Int {
            if let slot = index[key] {
                unlink(slot)
                pushNewest(slot)
                return slot
            }
            let fresh = Slot(key: key, tokens: capacity, updated: now)
            let slot: Int
            if slots.count < maximumKeys {
                slot = slots.count
                slots.append(fresh)
            } else {
                slot = oldest
                unlink(slot)
                index.removeValue(forKey: slots[slot].key)
                slots[slot] = fresh
            }
            index[key] = slot
            pushNewest(slot)
            return slot
        }

        private mutating func unlink(_ slot: Int) {
            let (older, newer) = (slots[slot].older, slots[slot].newer)
            if older >= 0 { slots[older].newer = newer } else { oldest = newer }
            if newer >= 0 { slots[newer].older = older } else { newest = older }
            slots[slot].older = -1
            slots[slot].newer = -1
        }

        private mutating func pushNewest(_ slot: Int) {
            slots[slot].older = newest
            slots[slot].newer = -1
            if newest >= 0 { slots[newest].newer = slot } else { oldest = slot }
            newest = slot
        }
    }
}
