import EventLog
import Foundation
import PostgresNIO
import Signatures

extension PostgresWriter {
    /// A batch whose opening statements went out on the connection in `slot`: BEGIN, the head
    /// lock, then the versions of the streams the writer does not know (see ``KnownVersions``)
    /// and the holders of its keys. The server runs them in that order, so the versions and
    /// holders are read under the lock, whenever it is granted (after the commit in flight,
    /// if any).
    struct OpenedBatch {
        let jobs: [Job]
        let slot: Int
        let connection: PostgresConnection
        let begun: EventLoopFuture<PostgresQueryResult>
        let locked: EventLoopFuture<[PostgresRow]>
        let versions: EventLoopFuture<[PostgresRow]>?
        let owners: EventLoopFuture<PostgresQueryResult>?
        let keys: Set<ClaimKey>
        /// The versions taken from ``KnownVersions``: current only if the locked head is
        /// `knownAt`.
        let known: [UUID: UInt64]
        let knownAt: LogHead?
        /// The head this process had signed or checked when the batch opened; `locked` also
        /// read the chain hash the log holds at its position (see ``checkHeadIsSigned``).
        let seen: Checkpoint?
    }

    /// A batch whose write and COMMIT went out: what each job will be answered once the
    /// COMMIT is.
    struct SentBatch {
        let jobs: [Job]
        let slot: Int
        let connection: PostgresConnection
        let outcomes: [[Result<AppendResult, EventLogError>]]
        let written: [EventLoopFuture<Void>]
        let committed: EventLoopFuture<PostgresQueryResult>
        let signed: [UInt8]?
        /// The position of the first event written, and the stored form of each.
        let first: UInt64
        let envelopes: [ByteBuffer]
    }

    /// Sends the batch's opening statements without waiting for them; a batch that cannot get
    /// a connection is answered with the error at once (`nil`).
    func open(_ jobs: [Job], slot: Int) -> OpenedBatch? {
        let connection: PostgresConnection
        let seen = seenCheckpoint.flatMap { $0.position > 0 ? $0 : nil }
        let lock: PreparedQuery
        let versionsStatement: PreparedQuery
        do {
            connection = try writerConnection(slot)
            // Prepared when the connection opened: these only look them up.
            lock = try server.prepared(
                seen == nil ? PostgresHead.lockStatement : PostgresHead.lockAtStatement, on: connection)
            versionsStatement = try server.prepared(Self.versionsStatement, on: connection)
        } catch {
            fail(jobs, with: error)
            return nil
        }
        let requests = jobs.flatMap(\.requests)
        let keys = Set(requests.flatMap { $0.claims.map(ClaimKey.init) })
        var unknown: [UUID] = []
        var known: [UUID: UInt64] = [:]
        let knownAt = knownVersions.withLock { cache in
            for stream in Set(requests.map(\.stream)) {
                if cache.head != nil, let version = cache.versions[stream] {
                    known[stream] = version
                } else {
                    unknown.append(stream)
                }
            }
            return cache.head
        }
        let begun = connection.send("BEGIN")
        let locked = connection.send(lock, seen.map { [PostgresData(binary: Int64($0.position))] } ?? [])
        let versions = unknown.isEmpty ? nil : connection.send(versionsStatement, [PostgresData(binary: unknown)])
        let owners = keys.isEmpty ? nil : connection.send(Self.ownersQuery(keys))
        return OpenedBatch(
            jobs: jobs, slot: slot, connection: connection, begun: begun, locked: locked, versions: versions,
            owners: owners, keys: keys, known: known, knownAt: knownAt, seen: seen)
    }

    /// Waits for the opening answers, checks each request against them (and against the
    /// requests before it in the batch) before any of its events is written, so a rejected
    /// request leaves no trace and its neighbours go ahead; then sends one statement writing
    /// the passing events, the claims and the new head, and COMMIT, without waiting. A failure
    /// rolls back, closes the connection and answers every job with it (`nil`).
    func proceed(_ batch: OpenedBatch) -> SentBatch? {
        let connection = batch.connection
        do throws(EventLogError) {
            // A failed BEGIN fails the batch, whatever the statements after it answered.
            _ = try connection.answer(to: batch.begun)
            let lockedRows = try connection.answer(to: batch.locked)
            let stored: PostgresHead
            var hashAtSeen: ChainHash?
            if batch.seen != nil {
                (stored, hashAtSeen) = try PostgresHead.parseWithHash(lockedRows)
            } else {
                stored = try PostgresHead.parse(lockedRows)
            }
            var state = BatchState(head: stored.head)
            let signingKey = self.signingKey.withLock { $0 }
            if let signingKey {
                try checkHeadIsSigned(stored, key: signingKey, stillHolding: batch.seen.map { ($0, hashAtSeen) })
            }
            if let versions = batch.versions {
                state.versions = try Self.versions(from: try connection.answer(to: versions))
            }
            if !batch.known.isEmpty {
                if batch.knownAt == stored.head {
                    state.versions.merge(batch.known) { read, _ in read }
                } else {
                    // Another commit came between (another process's, or a batch of ours
                    // that failed): read these versions too, still under the lock.
                    let more = try connection.run(
                        try server.prepared(Self.versionsStatement, on: connection),
                        [PostgresData(binary: Array(batch.known.keys))])
                    state.versions.merge(try Self.versions(from: more)) { read, _ in read }
                }
            }
            var ownerRows: [PostgresRow] = []
            if let owners = batch.owners { ownerRows = try connection.answer(to: owners).rows }
            state.owners = try Self.owners(of: batch.keys, from: ownerRows)
            state.now = max(clock(), state.head.recordedAt)
            let outcomes = batch.jobs.map { job in job.requests.map { append($0, state: &state) } }
            var signed: [UInt8]?
            var written: [EventLoopFuture<Void>] = []
            if state.head.position != state.startPosition {
                var interval: Checkpoint?
                if let signingKey {
                    (signed, interval) = try sign(state.head, committedFrom: state.startPosition, with: signingKey)
                }
                // A write that failed leaves the transaction aborted, and COMMIT then only
                // rolls it back: `finish` fails the batch on either answer.
                written.append(try writeRows(state, checkpoint: signed, on: connection))
                if let interval { written.append(connection.send(PostgresHead.keepQuery(interval)).map { _ in }) }
            }
            let news = self.news.withLock { $0 }
            if state.head.position != state.startPosition, let news {
                // Before COMMIT goes: the notification of the commit may outrun its news.
                news.tell(.committing(through: state.head.position))
            }
            let committed = connection.send("COMMIT")
            knownVersions.withLock {
                $0.remember(state.versions, at: state.head, continuing: batch.knownAt == stored.head)
            }
            return SentBatch(
                jobs: batch.jobs, slot: batch.slot, connection: connection, outcomes: outcomes, written: written,
                committed: committed, signed: signed, first: state.startPosition + 1, envelopes: state.rows.envelopes)
        } catch {
            abandon(batch.jobs, slot: batch.slot, connection: connection, error: error)
            return nil
        }
    }

    /// Waits for the batch's write and COMMIT, then answers every job: each with its own
    /// outcome once the commit is flushed, or all with the error that kept the batch from
    /// committing (then none of it was acknowledged).
    func finish(_ batch: SentBatch) {
        let connection = batch.connection
        do throws(EventLogError) {
            for statement in batch.written { _ = try connection.answer(to: statement) }
            guard try connection.answer(to: batch.committed).metadata.command == "COMMIT" else {
                throw .writeFailed(detail: "PostgreSQL rolled the batch back at COMMIT")
            }
        } catch {
            abandon(batch.jobs, slot: batch.slot, connection: connection, error: error)
            return
        }
        if let signed = batch.signed { knownCheckpoint.withLock { $0 = signed } }
        if !batch.envelopes.isEmpty, let news = self.news.withLock({ $0 }) {
            news.tell(
                .committed(
                    CommittedBatch(first: batch.first, stored: batch.envelopes.map { Array($0.readableBytesView) })))
        }
        for (job, outcome) in zip(batch.jobs, batch.outcomes) { job.continuation.resume(returning: outcome) }
    }

    /// After a failure in a batch's transaction: rolls it back, closes its connection (its
    /// state is unknown) and answers every job with the error.
    private func abandon(_ jobs: [Job], slot: Int, connection: PostgresConnection, error: EventLogError) {
        knownVersions.withLock { $0.forget() }
        if let news = self.news.withLock({ $0 }) { news.tell(.failed) }
        _ = try? connection.run("ROLLBACK")
        dropConnection(slot)
        fail(jobs, with: error)
    }

    /// Answers every job with `error`, a storage failure as a failed write.
    private func fail(_ jobs: [Job], with error: EventLogError) {
        let failure: EventLogError
        switch error {
        case .storage(let detail): failure = .writeFailed(detail: detail)
        default: failure = error
        }
        for job in jobs { job.continuation.resume(throwing: failure) }
    }

    private func append(_ request: AppendRequest, state: inout BatchState) -> Result<AppendResult, EventLogError> {
        if let rejection = request.rejection { return .failure(rejection) }
        let current = state.versions[request.stream] ?? 0
        guard request.expected.isMet(byCurrent: current) else {
            return .failure(.conflict(stream: request.stream, expected: request.expected, actual: current))
        }
        for claim in request.claims where claim.action == .claim {
            if let holder = state.owners[ClaimKey(claim)] ?? nil, holder != request.stream {
                return .failure(.uniqueViolation(scope: claim.scope))
            }
        }
        var version = current
        let first = state.head.position + 1
        for event in request.events {
            version += 1
            let position = state.head.position + 1
            state.encoder.reset()
            Envelope.writeCanonical(
                of: event, position: position, streamID: request.stream, streamVersion: version,
                recordedAt: state.now, to: &state.encoder)
            let canonical = state.encoder.bytes
            let hash = canonical.withUnsafeBytes {
                state.head.hash.next(canonicalBytes: $0, scratch: &state.scratch)
            }
            var envelope = ByteBuffer()
            envelope.reserveCapacity(canonical.count + Envelope.hashSize)
            envelope.writeBytes(canonical)
            envelope.writeBytes(hash.bytes)
            state.rows.positions.append(Int64(position))
            state.rows.streams.append(request.stream)
            state.rows.versions.append(Int64(version))
            state.rows.envelopes.append(envelope)
            state.head.position = position
            state.head.hash = hash
        }
        for claim in request.claims {
            let key = ClaimKey(claim)
            switch claim.action {
            case .claim:
                state.owners[key] = request.stream
                state.changedClaims.insert(key)
            case .release:
                if state.owners[key] == request.stream {
                    state.owners[key] = .some(nil)
                    state.changedClaims.insert(key)
                }
            }
        }
        state.head.recordedAt = state.now
        state.versions[request.stream] = version
        return .success(
            AppendResult(
                stream: request.stream, firstPosition: first, lastPosition: state.head.position,
                streamVersion: version, recordedAt: state.now))
    }

    /// The current version of each of the streams `$1`, 0 for one with no events: one index
    /// probe each.
    static let versionsStatement = PreparedSQL(
        name: "authlog_stream_versions",
        sql: """
            SELECT s.id, coalesce((SELECT e.stream_version FROM authlog.events e WHERE e.stream_id = s.id
                                   ORDER BY e.stream_version DESC LIMIT 1), 0)
            FROM unnest($1::uuid[]) AS s(id)
            """)

    /// The statement of most batches, which change no claim: the events (`$1` to `$4`, their
    /// columns as arrays) and the new head (`$5` to `$8`, the checkpoint NULL to keep the one
    /// stored).
    static let writeStatement = PreparedSQL(
        name: "authlog_write_events",
        sql: """
            WITH inserted AS (
                INSERT INTO authlog.events (position, stream_id, stream_version, envelope)
                SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::bytea[])
            )
            UPDATE authlog.head SET position = $5::bigint, hash = $6::bytea, recorded_at = $7::bigint,
                checkpoint = coalesce($8::bytea, checkpoint)
            WHERE id
            """)

    /// The statements every batch may send, prepared on each writer connection when it opens.
    static let statements = [
        PostgresHead.lockStatement, PostgresHead.lockAtStatement, versionsStatement, writeStatement,
    ]

    static func versions(from rows: [PostgresRow]) throws(EventLogError) -> [UUID: UInt64] {
        var versions: [UUID: UInt64] = [:]
        versions.reserveCapacity(rows.count)
        for row in rows {
            let (stream, version) = try row.columns((UUID, Int64).self)
            versions[stream] = UInt64(version)
        }
        return versions
    }

    /// The claims held on any of `keys`.
    static func ownersQuery(_ keys: Set<ClaimKey>) -> PostgresQuery {
        let scopes = keys.map(\.scope)
        let values = keys.map { ByteBuffer(bytes: $0.key) }
        return """
            SELECT c.scope, c.key, c.stream_id FROM authlog.claims c
            JOIN unnest(\(scopes)::text[], \(values)::bytea[]) AS w(scope, key) ON c.scope = w.scope AND c.key = w.key
            """
    }

    /// The holder of each key: a stream, or `nil` (stored as such) for a key no one holds.
    static func owners(of keys: Set<ClaimKey>, from rows: [PostgresRow]) throws(EventLogError) -> [ClaimKey: UUID?] {
        var owners: [ClaimKey: UUID?] = [:]
        for key in keys { owners[key] = .some(nil) }
        for row in rows {
            let (scope, key, stream) = try row.columns((String, ByteBuffer, UUID).self)
            owners[ClaimKey(scope: scope, key: Array(key.readableBytesView))] = stream
        }
        return owners
    }

    /// Sends one statement: the events, the claims given up and taken, and the new head.
    private func writeRows(_ state: BatchState, checkpoint: [UInt8]?, on connection: PostgresConnection)
        throws(EventLogError) -> EventLoopFuture<Void>
    {
        var releasedScopes: [String] = []
        var releasedKeys: [ByteBuffer] = []
        var claimedScopes: [String] = []
        var claimedKeys: [ByteBuffer] = []
        var claimedBy: [UUID] = []
        for key in state.changedClaims {
            if let holder = state.owners[key] ?? nil {
                claimedScopes.append(key.scope)
                claimedKeys.append(ByteBuffer(bytes: key.key))
                claimedBy.append(holder)
            } else {
                releasedScopes.append(key.scope)
                releasedKeys.append(ByteBuffer(bytes: key.key))
            }
        }
        let rows = state.rows
        let headPosition = Int64(state.head.position)
        let headHash = ByteBuffer(bytes: state.head.hash.bytes)
        let headTime = state.head.recordedAt.microsecondsSince1970
        let signed = checkpoint.map { ByteBuffer(bytes: $0) }
        if state.changedClaims.isEmpty {
            // Most batches: prepared, so PostgreSQL neither parses nor plans it again.
            return connection.send(
                try server.prepared(Self.writeStatement, on: connection),
                [
                    PostgresData(binary: rows.positions), PostgresData(binary: rows.streams),
                    PostgresData(binary: rows.versions), PostgresData(binary: rows.envelopes),
                    PostgresData(binary: headPosition), PostgresData(binary: headHash), PostgresData(binary: headTime),
                    PostgresData(binaryOrNull: signed),
                ]
            ).map { _ in }
        }
        let query: PostgresQuery = """
            WITH inserted AS (
                INSERT INTO authlog.events (position, stream_id, stream_version, envelope)
                SELECT * FROM unnest(\(rows.positions)::bigint[], \(rows.streams)::uuid[], \(rows.versions)::bigint[],
                                     \(rows.envelopes)::bytea[])
            ), released AS (
                DELETE FROM authlog.claims c USING unnest(\(releasedScopes)::text[], \(releasedKeys)::bytea[]) AS r(scope, key)
                WHERE c.scope = r.scope AND c.key = r.key
            ), claimed AS (
                INSERT INTO authlog.claims (scope, key, stream_id)
                SELECT * FROM unnest(\(claimedScopes)::text[], \(claimedKeys)::bytea[], \(claimedBy)::uuid[])
                ON CONFLICT (scope, key) DO UPDATE SET stream_id = excluded.stream_id
            )
            UPDATE authlog.head SET position = \(headPosition), hash = \(headHash), recorded_at = \(headTime),
                checkpoint = coalesce(\(signed)::bytea, checkpoint)
            WHERE id
            """
        return connection.send(query).map { _ in }
    }
}

/// Stream versions the writer knows to be current as long as the log's head is `head`: those
/// it read under the head lock and those its own commits left. A commit changes versions only
/// by writing events, which moves the head, so a batch that finds the head at `head` under
/// the lock needs to read none of them; one that finds another head reads them all.
struct KnownVersions {
    /// The head these versions are current at; `nil` when nothing is known.
    var head: LogHead?
    var versions: [UUID: UInt64] = [:]
    /// Beyond this many streams the writer forgets them all and starts over.
    static let limit = 100_000

    /// After a batch was sent: `versions` are current at `head` if it commits. With
    /// `continuing`, the batch started from the head the known versions were current at, so
    /// they stay current; otherwise only the batch's own are.
    mutating func remember(_ batch: [UUID: UInt64], at head: LogHead, continuing: Bool) {
        if !continuing || versions.count + batch.count > Self.limit { versions.removeAll(keepingCapacity: true) }
        versions.merge(batch) { _, new in new }
        self.head = head
    }

    /// After a batch failed: what it would have left is not so, and other commits may follow.
    mutating func forget() {
        head = nil
        versions.removeAll(keepingCapacity: true)
    }
}

/// A unique key within its scope, as the claims table's primary key.
struct ClaimKey: Hashable {
    var scope: String
    var key: [UInt8]

    init(scope: String, key: [UInt8]) {
        self.scope = scope
        self.key = key
    }

    init(_ claim: UniqueClaim) {
        self.init(scope: claim.scope, key: claim.key)
    }
}

/// What one write transaction tracks as it goes.
struct BatchState {
    var head: LogHead
    let startPosition: UInt64
    var now = Timestamp(microsecondsSince1970: 0)
    /// Stream versions as of the head lock, then as this batch leaves them.
    var versions: [UUID: UInt64] = [:]
    /// Holders of the batch's keys as of the head lock, then as this batch leaves them.
    var owners: [ClaimKey: UUID?] = [:]
    var changedClaims: Set<ClaimKey> = []
    var rows = EventRows()
    var encoder = ByteWriter(capacity: 1_024)
    var scratch: [UInt8] = []

    init(head: LogHead) {
        self.head = head
        self.startPosition = head.position
    }
}

/// The columns of the events a batch writes, as arrays for one `unnest` insert.
struct EventRows {
    var positions: [Int64] = []
    var streams: [UUID] = []
    var versions: [Int64] = []
    var envelopes: [ByteBuffer] = []
}

extension AppendRequest {
    /// Why the log refuses this request whatever the log holds, or `nil`.
    var rejection: EventLogError? {
        if events.isEmpty { return .emptyAppend }
        if events.count > NewEvent.maximumEventsPerAppend {
            return .tooManyEvents(count: events.count, limit: NewEvent.maximumEventsPerAppend)
        }
        for event in events {
            do throws(EventLogError) { try event.validate() } catch { return error }
        }
        for claim in claims {
            if claim.scope.utf8.isEmpty || claim.scope.utf8.count > 64 || claim.key.isEmpty || claim.key.count > 256 {
                return .invalidEvent("a unique claim needs a scope of 1 to 64 bytes and a key of 1 to 256 bytes")
            }
        }
        return nil
    }
}
