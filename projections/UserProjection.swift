import AuthDomain
import DataProtection
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import LMDB
import Synchronization

/// The User table and the role index: one projection, named `users`, folded from the log.
///
/// Databases, in two generations `g` (0 and 1) so a rebuild can fill one while the other
/// serves:
/// - `users.g`: user id (16 bytes) -> ``UserRow``;
/// - `roles.g`: role (u8) + status (u8: 0 live, 1 soft-deleted) + user id -> empty: a page of
///   users by role is a cursor walk, live users first, ordered by id (registration time);
/// - `role-counts.g`: role + status -> u64 count.
///
/// The email and Stripe customer indexes are the log's `unique` claims (scopes `email` and
/// `stripe_customer`), kept in the same write transaction as every append.
public final class UserProjection: TransactionalProjector, Sendable {
    public static let name = "users"
    /// Bump when the row layout, the fold or what a row holds changes: the projection is then
    /// rebuilt on open. 8: a row may stand behind its stream by rotations (+Tail), which a
    /// reader of version 7 would not fold.
    public static let version: UInt32 = 8

    let log: LMDBEventLog
    let sealing: UserEventSealing
    let catalog: Database
    let tables: [Tables]
    let codeVersion: UInt32
    let decoded = DecodedRowCache()

    struct Tables: Sendable {
        let users: Database
        let roles: Database
        let counts: Database
    }

    /// Opens the projection's databases in `log`'s environment, brings the projection up to
    /// date (a rebuild if its stored version differs, a catch-up if it is behind the head),
    /// then attaches it to the log so every later append keeps it current.
    ///
    /// With `prepare: false` it only opens the databases (for a caller that rebuilds itself).
    public init(
        log: LMDBEventLog, keys: any DataKeyStore, codeVersion: UInt32 = UserProjection.version, prepare: Bool = true,
        progress: (@Sendable (RebuildProgress) -> Void)? = nil
    ) throws {
        self.log = log
        self.sealing = UserEventSealing(keys: keys)
        self.codeVersion = codeVersion
        let txn = try log.environment.beginTransaction(readOnly: log.isReadOnly)
        (catalog, tables) = try Self.openDatabases(txn, create: !log.isReadOnly, directory: log.directory)
        try txn.commit()  // a committed transaction keeps its database handles open
        guard !log.isReadOnly, prepare else { return }
        let entry = try log.environment.read { txn in try self.entry(in: txn) }
        if entry == nil || entry?.version != codeVersion {
            try rebuild(progress: progress)
        } else {
            try catchUp()
        }
        log.attach(self)
    }

    static func openDatabases(
        _ txn: borrowing Transaction, create: Bool, directory: String
    ) throws -> (Database, [Tables]) {
        var opened: [String: Database] = [:]
        let names = ["projections"] + (0..<2).flatMap { ["users.\($0)", "roles.\($0)", "role-counts.\($0)"] }
        for name in names {
            guard let db = try txn.openDatabase(name, flags: create ? .create : []) else {
                throw QueryError.projectionsMissing(directory: directory)
            }
            opened[name] = db
        }
        let tables = (0..<2).map {
            Tables(users: opened["users.\($0)"]!, roles: opened["roles.\($0)"]!, counts: opened["role-counts.\($0)"]!)
        }
        return (opened["projections"]!, tables)
    }

    /// The catalog entry, or `nil` before the first build.
    func entry(in txn: borrowing Transaction) throws -> CatalogEntry? {
        try Self.catalogKey.withUnsafeBytes { key in try txn.get(catalog, key: key).flatMap(CatalogEntry.init) }
    }

    func write(_ entry: CatalogEntry, in txn: borrowing Transaction) throws {
        try Array(Self.name.utf8).withUnsafeBytes { key in
            try entry.bytes.withUnsafeBytes { try txn.put(catalog, key: key, value: $0) }
        }
    }

    /// Where the live generation stands (read-only callers: `authctl stats`).
    public func status() throws -> CatalogEntry? {
        try log.environment.read { txn in try entry(in: txn) }
    }

    // MARK: Keeping current

    /// Runs on the log's writer thread inside the batch's write transaction, once a batch:
    /// folds events a writer without the projector appended, then the batch's (an AES-GCM
    /// open of the event and of the row, and a seal of the row, only when the event has
    /// personal fields), and writes the checkpoint once. The steps and why they stay there:
    /// docs/architecture.md, "What runs on the writer thread".
    public func project(_ events: [RecordedEvent], in txn: borrowing Transaction) throws {
        guard var entry = try entry(in: txn) else { return }  // not built yet: the build folds it
        let checkpoint = entry.checkpoint
        try events.withUnsafeBufferPointer { events in
            for index in events.indices where events[index].position > entry.checkpoint {
                let position = events[index].position
                if entry.checkpoint + 1 < position {
                    // Another process appended without this projector: fold what it wrote first.
                    try log.forEachEnvelope(in: txn, from: entry.checkpoint + 1, through: position - 1) { view in
                        try apply(view.recorded, to: entry.generation, in: txn)
                    }
                }
                try apply(events[index], to: entry.generation, in: txn)
                entry.checkpoint = position
            }
        }
        if entry.checkpoint != checkpoint { try write(entry, in: txn) }
    }

    /// Folds events after the checkpoint up to the head, in write transactions of at most
    /// 10,000 events, so the projection serves only once it has caught up.
    func catchUp() throws {
        var behind = true
        while behind {
            behind = try log.withWriteTransaction { txn in
                guard var entry = try entry(in: txn) else { return false }
                let head = try log.headPosition(in: txn)
                guard entry.checkpoint < head else { return false }
                let last = min(head, entry.checkpoint + 10_000)
                try log.forEachEnvelope(in: txn, from: entry.checkpoint + 1, through: last) { view in
                    try apply(view.recorded, to: entry.generation, in: txn)
                }
                entry.checkpoint = last
                try write(entry, in: txn)
                return last < head
            }
        }
    }

    /// One event into generation `g`: the row, then the role index and counts if the role
    /// or the deleted status moved. Personal fields are opened and sealed again only when
    /// the event touches them; otherwise the sealed bytes are kept as they are.
    func apply(_ event: RecordedEvent, to g: Int, in txn: borrowing Transaction) throws {
        // Decoded first, also when the row is then left behind: an event of this batch that
        // reads could not fold fails the batch here, uncommitted. (One another process
        // appended fails every batch until it is dealt with, as any event the fold refuses.)
        let decoded = try sealing.decode(event)
        let id = event.streamID
        // A rotation close enough behind the row is left to the reads' fold (+Tail), unless it
        // falls on the row's turn.
        if Self.leavesToReads(decoded.kind), !Self.isRowsTurn(id, version: event.streamVersion),
            let stored = try storedVersion(id, generation: g, in: txn),
            event.streamVersion > stored, event.streamVersion - stored < Self.rowLag
        {
            return
        }
        let touched = decoded.kind.changesPersonalFields
        // The state is decoded, changed in place and encoded: a copy of it retains and
        // releases every string and array it holds.
        var next = UserState(id: id)
        var before: RoleKey?
        var reuse: [UInt8]?
        if case (let state, let sealedPersonal)? = try row(id, generation: g, in: txn, openPersonal: touched) {
            next = state
            if !touched && !sealedPersonal.isEmpty { reuse = sealedPersonal }
            // The rotations the row was left behind by come first (+Tail); a row that was not
            // the projector's is replaced by the fold of its stream, sealed anew.
            if next.version + 1 < event.streamVersion {
                let anchor = TailEnd(version: event.streamVersion, position: event.position)
                if try foldTail(into: &next, through: event.streamVersion - 1, walkingFrom: anchor, in: txn) {
                    reuse = nil
                }
            }
            // The role index never lags: its key is the fold's before this event, which a row
            // written back by hand need not hold.
            before = RoleKey(next)
        }
        next.apply(decoded, at: event.recordedAt)
        try putRow(next, sealedPersonal: reuse, generation: g, in: txn)
        try updateRoleIndex(from: before, to: RoleKey(next), generation: g, in: txn)
        // The decoded user leaves memory with the erasure; no entry lends their fields again.
        if decoded.kind == .erased { self.decoded.forget(id) }
    }

    /// `id`'s stored row in generation `g`, as LMDB holds it (valid for `txn`'s life), or
    /// `nil` without one: the one look-up every row read starts with.
    func storedRow(_ id: UUID, generation g: Int, in txn: borrowing Transaction) throws -> UnsafeRawBufferPointer? {
        try withUnsafeBytes(of: id.uuid) { try txn.get(tables[g].users, key: $0) }
    }

    func row(
        _ id: UUID, generation g: Int, in txn: borrowing Transaction, openPersonal: Bool
    ) throws -> (state: UserState, sealedPersonal: [UInt8])? {
        guard let bytes = try storedRow(id, generation: g, in: txn) else {
            return nil
        }
        return try UserRow.decode(bytes, id: id) { sealed in
            guard openPersonal, let key = try sealing.keys.dataKey(for: id) else { return nil }
            return try AESGCM.open(sealed, key: key, associatedData: UserRow.sealingContext(id))
        }
    }

    /// A user with personal fields opened, for reads: the row and its tail
    /// (`UserProjection+Tail`), from the decoded-row cache when it can answer exactly: with no
    /// look-up when the entry was checked in this very snapshot, else when the entry is at the
    /// version the read answers or between the row's (bytes 1 to 8 of every row) and it
    /// (``cachedAnswer(_:row:end:stamp:in:)``); else the row is decoded, its personal fields
    /// taken from the entry when the entry was opened from the same sealed bytes (a rotation, a
    /// login or a role change leaves them as they were), opened with the user's key otherwise.
    func readUser(_ id: UUID, generation g: Int, in txn: borrowing Transaction) throws -> UserState? {
        let stamp = txn.isReadOnly ? SnapshotStamp(snapshot: txn.snapshotID, generation: g) : nil
        if let stamp, let cached = decoded.state(id, checkedAt: stamp) { return cached }
        guard let bytes = try storedRow(id, generation: g, in: txn) else {
            return nil
        }
        let version = try UserRow.version(of: bytes)
        let end = try tailEnd(of: id, after: version, in: txn)
        if let cached = try cachedAnswer(id, row: version, end: end, stamp: stamp, in: txn) { return cached }
        // Whether the personal fields came from the sealed part (opened, or lent by an entry
        // that opened the same bytes); only then may the entry lend them in turn.
        var opened = false
        let row = try UserRow.decode(bytes, id: id) { sealed in
            let lent = decoded.state(id, sealedPersonal: sealed, checkedAt: stamp)
            opened = lent != nil
            return lent
        } open: { sealed in
            guard let key = try sealing.keys.dataKey(for: id) else { return nil }
            let personal = try AESGCM.open(sealed, key: key, associatedData: UserRow.sealingContext(id))
            opened = true
            return personal
        }
        var state = row.state
        let refolded = try foldTail(into: &state, through: end, in: txn)
        decoded.store(state, sealedPersonal: opened && !refolded ? row.sealedPersonal : [], checkedAt: stamp)
        return state
    }

    func putRow(
        _ state: UserState, sealedPersonal: [UInt8]?, generation g: Int, in txn: borrowing Transaction,
        append: Bool = false
    ) throws {
        let bytes = try encodeRow(state, sealedPersonal: sealedPersonal)
        try uuidKey(state.id).withUnsafeBytes { key in
            try bytes.withUnsafeBytes {
                try txn.put(tables[g].users, key: key, value: $0, flags: append ? .append : [])
            }
        }
    }

    func encodeRow(_ state: UserState, sealedPersonal: [UInt8]?) throws -> [UInt8] {
        try UserRow.encode(state, sealedPersonal: sealedPersonal) { personal in
            // Without a key (erased meanwhile) nothing personal is kept.
            guard let key = try sealing.keys.dataKey(for: state.id) else { return [] }
            return try AESGCM.seal(personal, key: key, associatedData: UserRow.sealingContext(state.id))
        }
    }

    func updateRoleIndex(from before: RoleKey?, to after: RoleKey?, generation g: Int, in txn: borrowing Transaction)
        throws
    {
        guard before != after else { return }
        if let before {
            _ = try before.bytes.withUnsafeBytes { try txn.delete(tables[g].roles, key: $0) }
            try adjustCount(before, by: -1, generation: g, in: txn)
        }
        if let after {
            try after.bytes.withUnsafeBytes { key in
                try [UInt8]().withUnsafeBytes { try txn.put(tables[g].roles, key: key, value: $0) }
            }
            try adjustCount(after, by: 1, generation: g, in: txn)
        }
    }

    func adjustCount(_ key: RoleKey, by delta: Int64, generation g: Int, in txn: borrowing Transaction) throws {
        let countKey = Array(key.bytes.prefix(2))
        let current =
            try countKey.withUnsafeBytes { try txn.get(tables[g].counts, key: $0) }.map {
                Int64(bigEndian: $0.loadUnaligned(as: Int64.self))
            } ?? 0
        try countKey.withUnsafeBytes { key in
            try withUnsafeBytes(of: (current + delta).bigEndian) { try txn.put(tables[g].counts, key: key, value: $0) }
        }
    }
}

/// A role-index key: role, status (0 live, 1 soft-deleted), user id.
struct RoleKey: Hashable {
    var role: Role
    var deleted: Bool
    var id: UUID

    var bytes: [UInt8] { [role.code, deleted ? 1 : 0] + uuidKey(id) }
}

extension RoleKey {
    /// The key `state` has in the role index; nil for a user that does not exist.
    init?(_ state: borrowing UserState) {
        guard state.exists else { return nil }
        self.init(role: state.role, deleted: state.isDeleted, id: state.id)
    }
}

func uuidKey(_ id: UUID) -> [UInt8] {
    withUnsafeBytes(of: id.uuid) { Array($0) }
}
