import EventLog
import Foundation
import PostgresNIO
import Signatures

extension PostgresWriter {
    /// One transaction for the whole batch; on any failure it is rolled back, the connection
    /// closed, and the error returned as it applies to every request (nothing acknowledged).
    func writeBatch(_ batches: [[AppendRequest]]) -> Result<[[Result<AppendResult, EventLogError>]], EventLogError> {
        do throws(EventLogError) {
            let connection = try writerConnection()
            do throws(EventLogError) {
                return .success(try write(batches, on: connection))
            } catch {
                _ = try? connection.run("ROLLBACK")
                dropConnection()
                throw error
            }
        } catch {
            switch error {
            case .storage(let detail): return .failure(.writeFailed(detail: detail))
            default: return .failure(error)
            }
        }
    }

    /// The transaction: lock the head row first (every writer, in every process, does), then
    /// read the versions of the batch's streams and the holders of its claimed keys, which no
    /// one can change until this commits. Each request is checked against them (and against
    /// the requests before it in the batch) before any of its events is written, so a rejected
    /// request leaves no trace and its neighbours go ahead. Then one statement writes the
    /// passing events, the claims and the new head, and the commit is flushed.
    func write(_ batches: [[AppendRequest]], on connection: PostgresConnection) throws(EventLogError)
        -> [[Result<AppendResult, EventLogError>]]
    {
        // BEGIN goes out with the head lock, one wait for both; a failed BEGIN fails the batch.
        let begun = connection.send("BEGIN")
        let stored = try PostgresHead.lock(on: connection)
        _ = try connection.answer(to: begun)
        var state = BatchState(head: stored.head)
        let signingKey = self.signingKey.withLock { $0 }
        if let signingKey { try checkHeadIsSigned(stored, key: signingKey) }
        let requests = batches.joined()
        state.versions = try loadVersions(of: Set(requests.map(\.stream)), on: connection)
        state.owners = try loadOwners(of: Set(requests.flatMap { $0.claims.map(ClaimKey.init) }), on: connection)
        state.now = max(clock(), state.head.recordedAt)
        let outcomes = batches.map { requests in requests.map { append($0, state: &state) } }
        var signed: [UInt8]?
        if state.head.position != state.startPosition {
            var interval: Checkpoint?
            if let signingKey {
                (signed, interval) = try sign(state.head, committedFrom: state.startPosition, with: signingKey)
            }
            // The write goes out with COMMIT, one wait for both. A write that failed leaves the
            // transaction aborted, and COMMIT then only rolls it back: its error fails the batch.
            let written = connection.send(writeRows(state, checkpoint: signed))
            if let interval { try PostgresHead.keep(interval, on: connection) }
            let committed = connection.send("COMMIT")
            _ = try connection.answer(to: written)
            guard try connection.answer(to: committed).metadata.command == "COMMIT" else {
                throw .writeFailed(detail: "PostgreSQL rolled the batch back at COMMIT")
            }
        } else {
            _ = try connection.run("COMMIT")
        }
        if let signed { knownCheckpoint.withLock { $0 = signed } }
        return outcomes
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

    /// The current version of each stream, 0 for one with no events: one index probe each.
    private func loadVersions(of streams: Set<UUID>, on connection: PostgresConnection) throws(EventLogError)
        -> [UUID: UInt64]
    {
        let ids = Array(streams)
        let rows = try connection.run(
            """
            SELECT s.id, coalesce((SELECT e.stream_version FROM authlog.events e WHERE e.stream_id = s.id
                                   ORDER BY e.stream_version DESC LIMIT 1), 0)
            FROM unnest(\(ids)::uuid[]) AS s(id)
            """)
        var versions: [UUID: UInt64] = [:]
        versions.reserveCapacity(rows.count)
        for row in rows {
            let (stream, version) = try row.columns((UUID, Int64).self)
            versions[stream] = UInt64(version)
        }
        return versions
    }

    /// The holder of each key: a stream, or `nil` (stored as such) for a key no one holds.
    private func loadOwners(of keys: Set<ClaimKey>, on connection: PostgresConnection) throws(EventLogError)
        -> [ClaimKey: UUID?]
    {
        var owners: [ClaimKey: UUID?] = [:]
        for key in keys { owners[key] = .some(nil) }
        if keys.isEmpty { return owners }
        let scopes = keys.map(\.scope)
        let values = keys.map { ByteBuffer(bytes: $0.key) }
        let rows = try connection.run(
            """
            SELECT c.scope, c.key, c.stream_id FROM authlog.claims c
            JOIN unnest(\(scopes)::text[], \(values)::bytea[]) AS w(scope, key) ON c.scope = w.scope AND c.key = w.key
            """)
        for row in rows {
            let (scope, key, stream) = try row.columns((String, ByteBuffer, UUID).self)
            owners[ClaimKey(scope: scope, key: Array(key.readableBytesView))] = stream
        }
        return owners
    }

    /// One statement: the events, the claims given up and taken, and the new head.
    private func writeRows(_ state: BatchState, checkpoint: [UInt8]?) -> PostgresQuery {
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
        return """
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
