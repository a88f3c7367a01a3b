import AuthDomain
import EventLog
import EventLogLMDB
import Foundation
import LMDB
import Synchronization

/// The admin console's search (``UserDirectory``): an index held in memory only, built from
/// the users projection (by ``build()`` at authd's start, else on the first search) and kept
/// current from the log on every search.
///
/// Why in memory: the projection's email index is the log's claim on a hash (SHA-256) of the
/// address, which answers "who owns exactly this address" but cannot be walked by prefix; and
/// the rows' personal fields are sealed, so no table on disk can hold them in clear without
/// undoing that sealing. The index holds, per user, the email lookup key, the phone digits, the
/// Stripe id, the role, the flags and two times, in one array in a fixed order, plus the
/// email keys sorted (with their slots) for prefix search.
///
/// How it stays correct:
/// - It records the generation and the checkpoint (log position) it reflects. A search first
///   opens one read transaction; if the live generation differs (a rebuild), it builds again
///   from that generation's rows; otherwise it reads the events after its checkpoint up to
///   the projection's and reads again, in that same transaction, the row of every user they
///   touched. Every row it holds is therefore the row at one checkpoint, never older than the
///   last answer's.
/// - A log emptied and filled with another history (``UserProjection/reset(in:)``, a cluster
///   node's copy made again) breaks the walk by positions: the first search in a snapshot
///   from then on builds again from the rows, whatever the generation and checkpoint.
/// - Users are never removed from the projection (an erased user keeps a row without
///   personal fields), so slots only grow.
///
/// Why it is erasure-safe: an erased user's row reads back with every personal field empty
/// (the data key is gone), and `UserErased` is an event of that user, so the search after
/// the erase reads the row again and drops the address, phone and Stripe id from the entry
/// and from the sorted keys. Nothing is written to disk; a restart starts from the rows.
public final class UserDirectoryIndex: UserDirectory, Sendable {
    struct Entry {
        var id: UUID
        /// The email's lookup key (trimmed, lower-cased); empty once erased.
        var email: String
        /// The phone's digits only.
        var phone: String
        var stripe: String
        var role: Role
        var verified: Bool
        var deleted: Bool
        var erased: Bool
        var created: Int64
        /// Microseconds of the last login; `Int64.min` if never.
        var lastLogin: Int64

        init(_ user: UserState) {
            id = user.id
            email = Self.emailKey(user.email)
            phone = Self.digits(user.phone ?? "")
            stripe = user.stripeCustomerID ?? ""
            role = user.role
            verified = user.emailVerifiedAt != nil
            deleted = user.isDeleted
            erased = user.isErased
            created = user.createdAt.microsecondsSince1970
            lastLogin = user.lastLoginAt?.microsecondsSince1970 ?? .min
        }

        static func emailKey(_ text: String) -> String {
            text.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping.lowercased()
        }

        static func digits(_ text: String) -> String { String(text.filter(\.isASCII).filter(\.isNumber)) }
    }

    struct State {
        var generation = -1
        var checkpoint: UInt64 = 0
        /// The read snapshot of the last refresh.
        var snapshot = -1
        var entries: [Entry] = []
        var slots: [UUID: Int] = [:]
        /// Email keys in UTF-8 order, each with its slot (ties by slot).
        var emails: [(key: String, slot: Int)] = []
    }

    let projection: UserProjection
    private let state = Mutex(State())

    public init(_ projection: UserProjection) {
        self.projection = projection
    }

    // MARK: UserDirectory

    public func search(_ query: DirectoryQuery) throws -> DirectoryPage {
        try state.withLock { state in
            try refresh(&state)
            return Self.search(query, in: state)
        }
    }

    public func roleCounts() throws -> [Role: Int] {
        let queries = UserQueries(projection)
        var counts: [Role: Int] = [:]
        for role in Role.allCases { counts[role] = try queries.count(role: role, includeDeleted: true) }
        return counts
    }

    /// Builds the index now (authd calls this once at start, on a thread of its own, so
    /// that the first search does not pay for it); returns how many users it holds. A search
    /// meanwhile waits for the build, as it would have built it itself.
    @discardableResult
    public func build() throws -> Int {
        try state.withLock { state in
            try refresh(&state)
            return state.entries.count
        }
    }

    /// The entries held, brought up to date (what a search walks).
    func entries() throws -> [Entry] {
        try state.withLock { state in
            try refresh(&state)
            return state.entries
        }
    }

    // MARK: Keeping current

    /// Brings `state` to the projection's checkpoint, in one read transaction. Entries are
    /// made from rows as stored, without their tails (`UserProjection+Tail`): a tail holds
    /// rotations only, which change no field an entry keeps.
    func refresh(_ state: inout State) throws {
        let log = projection.log
        try log.environment.read { txn in
            guard let entry = try projection.entry(in: txn) else { return }
            let newHistory = projection.decoded.newHistorySince
            let historyChanged = newHistory > 0 && txn.snapshotID >= newHistory && state.snapshot < newHistory
            defer { state.snapshot = txn.snapshotID }
            if entry.generation != state.generation || entry.checkpoint < state.checkpoint || historyChanged {
                state = State()
                state.generation = entry.generation
                try txn.withCursor(projection.tables[entry.generation].users) { walk in
                    var current = try walk.first()
                    while let row = current {
                        let id = row.key.count == 16 ? UUID(uuid: row.key.loadUnaligned(as: uuid_t.self)) : nil
                        if let id,
                            let user = try projection.row(id, generation: entry.generation, in: txn, openPersonal: true)
                        {
                            state.slots[id] = state.entries.count
                            state.entries.append(Entry(user.state))
                        }
                        current = try walk.next()
                    }
                }
                state.checkpoint = entry.checkpoint
                Self.sortEmails(&state)
                return
            }
            guard entry.checkpoint > state.checkpoint else { return }
            var touched = Set<UUID>()
            var next = state.checkpoint + 1
            while next <= entry.checkpoint {
                let events = try log.read(from: next, limit: Int(min(4_096, entry.checkpoint - next + 1)))
                guard let last = events.last else { break }
                for event in events where event.position <= entry.checkpoint { touched.insert(event.streamID) }
                next = last.position + 1
            }
            let rebuildSorted = touched.count > 2_000
            for id in touched {
                guard
                    let user = try projection.row(id, generation: entry.generation, in: txn, openPersonal: true)?.state
                else { continue }
                let fresh = Entry(user)
                if let slot = state.slots[id] {
                    let old = state.entries[slot].email
                    state.entries[slot] = fresh
                    if !rebuildSorted, old != fresh.email {
                        Self.removeEmail(old, slot: slot, from: &state.emails)
                        Self.insertEmail(fresh.email, slot: slot, into: &state.emails)
                    }
                } else {
                    let slot = state.entries.count
                    state.slots[id] = slot
                    state.entries.append(fresh)
                    if !rebuildSorted { Self.insertEmail(fresh.email, slot: slot, into: &state.emails) }
                }
            }
            if rebuildSorted { Self.sortEmails(&state) }
            state.checkpoint = entry.checkpoint
        }
    }

    static func sortEmails(_ state: inout State) {
        state.emails = state.entries.indices.compactMap { slot in
            state.entries[slot].email.isEmpty ? nil : (state.entries[slot].email, slot)
        }
        state.emails.sort { precedes($0.key, $0.slot, $1.key, $1.slot) }
    }

    static func precedes(_ a: String, _ aSlot: Int, _ b: String, _ bSlot: Int) -> Bool {
        a == b ? aSlot < bSlot : a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// The first index whose (key, slot) is not before (`key`, `slot`).
    static func lowerBound(_ key: String, slot: Int, in emails: [(key: String, slot: Int)]) -> Int {
        var (low, high) = (0, emails.count)
        while low < high {
            let middle = (low + high) / 2
            if precedes(emails[middle].key, emails[middle].slot, key, slot) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    static func removeEmail(_ key: String, slot: Int, from emails: inout [(key: String, slot: Int)]) {
        guard !key.isEmpty else { return }
        let index = lowerBound(key, slot: slot, in: emails)
        if index < emails.count, emails[index].key == key, emails[index].slot == slot { emails.remove(at: index) }
    }

    static func insertEmail(_ key: String, slot: Int, into emails: inout [(key: String, slot: Int)]) {
        guard !key.isEmpty else { return }
        emails.insert((key, slot), at: lowerBound(key, slot: slot, in: emails))
    }

    // MARK: Searching

    static func search(_ query: DirectoryQuery, in state: State) -> DirectoryPage {
        let limit = max(1, min(query.limit, 1_000))
        let offset = max(0, min(query.offset, DirectoryQuery.deepestResult - limit))
        var top = TopSlots(capacity: offset + limit)
        var total = 0
        // Fields are read in place (no copy of an entry and its strings per user considered).
        func consider(_ slot: Int) {
            if let role = query.role, state.entries[slot].role != role { return }
            if let verified = query.verified, state.entries[slot].verified != verified { return }
            if let deleted = query.deleted, state.entries[slot].deleted != deleted { return }
            if let erased = query.erased, state.entries[slot].erased != erased { return }
            total += 1
            top.offer(slot, key: query.order == .created ? state.entries[slot].created : state.entries[slot].lastLogin)
        }
        let text = query.text.trimmingCharacters(in: .whitespaces)
        if text.isEmpty {
            // Newest slots first: slots are in id order, and ids grow with registration time,
            // so most users offered after the page is full are refused by one compare instead
            // of each being inserted at the front (the result does not depend on the order).
            for slot in state.entries.indices.reversed() { consider(slot) }
        } else if let id = UUID(uuidString: text) {
            if let slot = state.slots[id] { consider(slot) }
        } else if text.lowercased().hasPrefix("cus_") {
            for slot in state.entries.indices where state.entries[slot].stripe.hasPrefix(text) { consider(slot) }
        } else if let first = text.first, first == "+" || first.isNumber {
            let digits = Entry.digits(text)
            for slot in state.entries.indices where !digits.isEmpty && state.entries[slot].phone.hasPrefix(digits) {
                consider(slot)
            }
        } else {
            let prefix = Entry.emailKey(text)
            var index = lowerBound(prefix, slot: -1, in: state.emails)
            while index < state.emails.count, state.emails[index].key.utf8.starts(with: prefix.utf8) {
                consider(state.emails[index].slot)
                index += 1
            }
        }
        let ordered = top.slots
        let page = offset < ordered.count ? Array(ordered[offset...]) : []
        return DirectoryPage(ids: page.map { state.entries[$0].id }, total: total, position: state.checkpoint)
    }
}

/// The `capacity` slots with the greatest keys (ties: the lower slot first), kept sorted as
/// they are offered: a search over a million users keeps a page's worth, not a million.
/// The result is the first `capacity` of a full sort, whatever order the slots come in;
/// offering the greatest first makes every later offer a single compare.
struct TopSlots {
    let capacity: Int
    private(set) var items: [(key: Int64, slot: Int)] = []

    init(capacity: Int) {
        self.capacity = capacity
        items.reserveCapacity(min(capacity, 1_024))
    }

    static func before(_ a: (key: Int64, slot: Int), _ b: (key: Int64, slot: Int)) -> Bool {
        a.key == b.key ? a.slot < b.slot : a.key > b.key
    }

    mutating func offer(_ slot: Int, key: Int64) {
        let item = (key: key, slot: slot)
        if items.count == capacity {
            guard let last = items.last, Self.before(item, last) else { return }
            items.removeLast()
        }
        var (low, high) = (0, items.count)
        while low < high {
            let middle = (low + high) / 2
            if Self.before(items[middle], item) { low = middle + 1 } else { high = middle }
        }
        items.insert(item, at: low)
    }

    var slots: [Int] { items.map(\.slot) }
}
