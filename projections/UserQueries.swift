import AuthDomain
import DataProtection
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import LMDB

/// The read API over the projections, shared by the HTTP layer and authctl: the
/// projection-backed ``UserReads``.
///
/// Every query runs in its own LMDB read transaction: it never waits for the writer and sees
/// one consistent snapshot (one generation of the projection). Personal fields are opened
/// with the user's data key as they are read; erased users come back with them empty.
public struct UserQueries: UserReads {
    let projection: UserProjection

    public init(_ projection: UserProjection) {
        self.projection = projection
    }

    var log: LMDBEventLog { projection.log }

    /// The last log position folded into the users projection (0 before its first build).
    public func checkpoint() throws -> UInt64 {
        try projection.status()?.checkpoint ?? 0
    }

    // MARK: Point reads

    /// `includePersonal: false` skips opening the sealed part (email, names, phone, Stripe id,
    /// password hash read back empty): for checks that need only roles, sessions and times.
    public func user(id: UUID, includePersonal: Bool = true) throws -> UserState? {
        try log.environment.read { txn in
            guard let g = try projection.liveGeneration(in: txn) else { return nil }
            if includePersonal { return try projection.readUser(id, generation: g, in: txn) }
            return try projection.readPublicUser(id, generation: g, in: txn)
        }
    }

    public func user(stripeCustomerID: String) throws -> UserState? {
        guard
            let id = try log.owner(of: LinkStripeCustomer.claimKey(stripeCustomerID), in: LinkStripeCustomer.claimScope)
        else { return nil }
        return try user(id: id)
    }

    // MARK: The role index

    public typealias Page = UserPage

    public func users(role: Role, includeDeleted: Bool = false, limit: Int = 50, after cursor: String? = nil) throws
        -> Page
    {
        let start: [UInt8]
        if let cursor {
            guard let key = Self.decodeCursor(cursor), key.count == 18, key[0] == role.code else {
                throw QueryError.invalidCursor
            }
            start = key
        } else {
            start = [role.code, 0]
        }
        let limit = max(1, min(limit, 1_000))
        return try log.environment.read { txn in
            guard let g = try projection.liveGeneration(in: txn) else { return Page(users: [], nextCursor: nil) }
            return try txn.withCursor(projection.tables[g].roles) { walk in
                var users: [UserState] = []
                users.reserveCapacity(min(limit, 128))
                var entryKey = try start.withUnsafeBytes { try walk.seek(atOrAfter: $0) }
                if cursor != nil, let current = entryKey, current.key.elementsEqual(start) {
                    entryKey = try walk.next()
                }
                // Points into the map, valid until the read transaction ends: copied only
                // for the cursor of a page that has a next one.
                var last: UnsafeRawBufferPointer?
                while let current = entryKey, current.key.count == 18, current.key[0] == role.code,
                    includeDeleted || current.key[1] == 0
                {
                    if users.count == limit {
                        return Page(users: users, nextCursor: last.map { Self.encodeCursor(Array($0)) })
                    }
                    let id = current.key.loadUnaligned(fromByteOffset: 2, as: uuid_t.self)
                    if let state = try projection.readUser(UUID(uuid: id), generation: g, in: txn) {
                        users.append(state)
                    }
                    last = current.key
                    entryKey = try walk.next()
                }
                return Page(users: users, nextCursor: nil)
            }
        }
    }

    /// Users holding `role` now (soft-deleted ones only if asked).
    public func count(role: Role, includeDeleted: Bool = false) throws -> Int {
        try log.environment.read { txn in
            guard let g = try projection.liveGeneration(in: txn) else { return 0 }
            let statuses: [UInt8] = includeDeleted ? [0, 1] : [0]
            return try statuses.reduce(0) { total, status in
                let value = try [role.code, status].withUnsafeBytes {
                    try txn.get(projection.tables[g].counts, key: $0)
                }
                return total + Int(value.map { Int64(bigEndian: $0.loadUnaligned(as: Int64.self)) } ?? 0)
            }
        }
    }

    static func encodeCursor(_ key: [UInt8]) -> String {
        Data(key).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(
            of: "/", with: "_"
        )
        .replacingOccurrences(of: "=", with: "")
    }

    static func decodeCursor(_ text: String) -> [UInt8]? {
        guard text.count <= 32 else { return nil }
        let standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        return Data(base64Encoded: standard + String(repeating: "=", count: (4 - standard.count % 4) % 4)).map {
            [UInt8]($0)
        }
    }

    // MARK: Time travel and audit

    public typealias Moment = ReadMoment
    public typealias AuditEntry = AuthDomain.AuditEntry

    /// The user as they were at `moment`, by folding their stream up to it; `nil` if they did
    /// not exist yet.
    ///
    /// A stream's events come in log order, so a position stops the fold at the first event
    /// after it: nothing later is decoded. A time is checked on every event (a clock may step
    /// back, so a later event may carry an earlier time).
    public func user(id: UUID, asOf moment: Moment) throws -> UserState? {
        var state = UserState(id: id)
        // Past a position nothing more is included: the read stops there.
        try forEachDecoded(inStream: id) { view in
            guard moment.includes(position: view.position, recordedAt: view.recordedAt) else {
                if case .position = moment { return nil }
                return .skip
            }
            return .decode
        } _: { view, event in
            state = state.evolve(event, at: view.recordedAt)
        }
        return state.exists ? state : nil
    }

    /// Who held `role` at `moment` (not soft-deleted then), by folding the log up to it.
    public func holders(of role: Role, asOf moment: Moment) throws -> [UUID] {
        var roles: [UUID: (role: Role, deleted: Bool)] = [:]
        try log.forEachEnvelope(from: 1) { view in
            let event = view.recorded
            guard moment.includes(event) else { return false }
            let decoded = try projection.sealing.decode(view)
            var current = roles[view.streamID] ?? (.target, false)
            switch decoded {
            case .registered(let registered): current.role = registered.role
            case .roleChanged(_, let to): current.role = to
            case .softDeleted, .erased: current.deleted = true
            case .restored: current.deleted = false
            default: return true
            }
            roles[view.streamID] = current
            return true
        }
        return roles.filter { $0.value.role == role && !$0.value.deleted }.map(\.key)
            .sorted { uuidKey($0).lexicographicallyPrecedes(uuidKey($1)) }
    }

    /// The user's events in order, each with what it changed. `AuditTrailTests` pins it to
    /// ``auditTrailByCopies(id:)``.
    public func auditTrail(id: UUID) throws -> [AuditEntry] {
        var state = UserState(id: id)
        var trail: [AuditEntry] = []
        try forEachDecoded(inStream: id) { _ in
            .decode
        } _: { view, event in
            let next = state.evolve(event, at: view.recordedAt)
            trail.append(
                AuditEntry(
                    position: view.position, recordedAt: view.recordedAt, type: view.type,
                    actor: String(decoding: view.actorBytes, as: UTF8.self),
                    correlationID: String(decoding: view.correlationIDBytes, as: UTF8.self),
                    changes: AuditEntry.changes(from: state, to: next)))
            state = next
        }
        return trail
    }

    /// One page of the user's trail, in two walks of their stream: the envelopes alone pick the
    /// page and count the matches; then the stream is folded up to the page's newest event,
    /// and only the page's events have their changes written out (the others only mark which
    /// fields they changed). `AuditTrailTests` pins it to ``AuditPage/init(trail:before:limit:accepts:)``.
    public func auditPage(
        id: UUID, before: UInt64?, limit: Int, accepts: (AuditHead) -> Bool
    ) throws -> AuditPage {
        var heads: [AuditHead] = []
        try log.forEachEnvelope(inStream: id, from: 1) { view in
            heads.append(AuditHead(position: view.position, recordedAt: view.recordedAt, type: view.type))
            return true
        }
        var page = AuditPage()
        var chosen: [UInt64] = []
        for head in heads.reversed() where accepts(head) {
            page.matching += 1
            if let before, head.position >= before { continue }
            if chosen.count < limit { chosen.append(head.position) } else { page.more = true }
        }
        guard let newest = chosen.first else { return page }
        let wanted = Set(chosen)
        var state = UserState(id: id)
        // The fields changed so far: a field's value before an event is its text in the state
        // before it once it has changed, "" until then (what the trail last wrote for it).
        var changedSoFar: UInt32 = 0
        var entries: [UInt64: AuditPage.Entry] = [:]
        try forEachDecoded(inStream: id) { view in
            view.position <= newest ? .decode : nil
        } _: { view, event in
            let next = state.evolve(event, at: view.recordedAt)
            if wanted.contains(view.position) {
                var changes: [String: String] = [:]
                var before: [String: String] = [:]
                for (index, field) in AuditField.all.enumerated() where field.differs(state, next) {
                    changes[field.name] = field.text(of: next)
                    before[field.name] = changedSoFar & (1 << index) != 0 ? field.text(of: state) : ""
                }
                let entry = AuditEntry(
                    position: view.position, recordedAt: view.recordedAt, type: view.type,
                    actor: String(decoding: view.actorBytes, as: UTF8.self),
                    correlationID: String(decoding: view.correlationIDBytes, as: UTF8.self), changes: changes)
                entries[view.position] = AuditPage.Entry(entry: entry, before: before)
            }
            changedSoFar |= AuditEntry.changedFields(from: state, to: next, skipping: changedSoFar)
            state = next
        }
        page.entries = chosen.compactMap { entries[$0] }
        return page
    }

    /// What ``forEachDecoded(inStream:_:_:)`` does with the next event.
    enum StreamStep {
        case decode
        case skip
    }

    /// The user's events in order, read in place and opened with their data key (looked up
    /// once and scheduled once, `nil` once erased), not a key look-up, a context and a key
    /// schedule per event: the console reads a whole stream for each page. `step` says, from the envelope
    /// alone, whether to decode an event, skip it, or stop (nil).
    func forEachDecoded(
        inStream id: UUID, _ step: (EnvelopeView) -> StreamStep?, _ body: (EnvelopeView, UserEvent) throws -> Void
    ) throws {
        func walk(_ opener: AESGCMContext.KeyedOpener?) throws {
            try log.forEachEnvelope(inStream: id, from: 1) { view in
                guard let next = step(view) else { return false }
                guard next == .decode else { return true }
                let kind = try UserEventSealing.kind(of: view)
                try body(view, try projection.sealing.decode(view, kind: kind, opener: opener))
                return true
            }
        }
        guard var key = try projection.sealing.keys.dataKey(for: id) else { return try walk(nil) }
        defer { key.withUnsafeMutableBytes { cleanse($0) } }
        let context = try AESGCMContext()
        try key.withUnsafeBytes { key in try context.withOpener(key: key) { try walk($0) } }
    }

    /// ``auditTrail(id:)`` the plain way: the stream copied out of the log and each event
    /// decoded on its own. The reference the fast one is tested against.
    public func auditTrailByCopies(id: UUID) throws -> [AuditEntry] {
        var state = UserState(id: id)
        return try log.readStream(id, from: 1).map { event in
            let next = state.evolve(try projection.sealing.decode(event), at: event.recordedAt)
            defer { state = next }
            return AuditEntry(
                position: event.position, recordedAt: event.recordedAt, type: event.type, actor: event.metadata.actor,
                correlationID: event.metadata.correlationID, changes: AuditEntry.changes(from: state, to: next))
        }
    }

}
