import EventLog
import Foundation
import LMDB

extension LogStorage {
    /// Runs on the writer thread: writes a batch in one transaction and answers every job.
    func commit(_ jobs: [PendingAppend]) {
        switch writeGrowingMap(jobs.map(\.requests)) {
        case .success(let outcomes):
            for (job, outcome) in zip(jobs, outcomes) { job.continuation.resume(returning: outcome) }
        case .failure(let error):
            for job in jobs { job.continuation.resume(throwing: error) }
        }
    }

    /// Writes; on `MDB_MAP_FULL` the transaction is gone (aborted), the map grows and the
    /// whole batch is tried again, so a batch is acknowledged all at once or not at all.
    func writeGrowingMap(
        _ batches: [[AppendRequest]]
    ) -> Result<[[Result<AppendResult, EventLogError>]], EventLogError> {
        for _ in 0..<48 {
            do {
                return .success(try write(batches))
            } catch let error as LMDBError where error == .mapFull {
                do { try growMap() } catch {
                    return .failure(EventLogError(writing: error, directory: environment.path))
                }
            } catch let error as LMDBError {
                return .failure(EventLogError(writing: error, directory: environment.path))
            } catch let error as EventLogError {
                return .failure(error)
            } catch {
                return .failure(.storage(detail: String(describing: error)))
            }
        }
        return .failure(.storageFull(detail: "the map could not grow enough for this batch"))
    }

    /// Doubles the map up to 1 GiB, then grows it by 1 GiB at a time.
    func growMap() throws(LMDBError) {
        try Self.growMap(environment)
    }

    /// ``growMap()`` for an environment not yet a log's (while it is opened).
    static func growMap(_ environment: Environment) throws(LMDBError) {
        let current = environment.mapSize
        let step = min(current, 1 << 30)
        try environment.setMapSize(current + step)
    }

    /// One write transaction for the whole batch. Each request is checked before any of its
    /// events is written, so a rejected request leaves no trace and its neighbours go ahead.
    /// The head and the stream heads are read inside this transaction, never from a
    /// cache, so another process's writes between two batches are respected.
    func write(_ batches: [[AppendRequest]]) throws -> [[Result<AppendResult, EventLogError>]] {
        let txn = try environment.beginTransaction(readOnly: false)
        var state = BatchState(head: try head(in: txn))
        let signingKey = self.signingKey.withLock { $0 }
        if let signingKey { try checkHeadIsSigned(state.head, key: signingKey, in: txn) }
        var signed: [UInt8]?
        state.now = max(clock(), state.head.recordedAt)
        state.projector = projector.withLock { $0 }
        // Requests and events are read in place through buffer pointers: iterating the arrays
        // would copy each value, retaining and releasing its strings and payload per event.
        let outcomes = try batches.map { requests in
            try requests.withUnsafeBufferPointer { requests in
                try requests.indices.map { index in try append(requests[index], in: txn, state: &state) }
            }
        }
        if let projector = state.projector, !state.recorded.isEmpty { try projector.project(state.recorded, in: txn) }
        if state.head.position != state.startPosition {
            try state.head.withEncoded { value in
                try LogLayout.headKey.withUnsafeBytes { try txn.put(meta, key: $0, value: value) }
            }
            if let signingKey {
                signed = try sign(state.head, committedFrom: state.startPosition, with: signingKey, in: txn)
            }
        }
        try txn.commit()
        if let signed { knownCheckpoint.withLock { $0 = signed } }
        return outcomes
    }

    private func append(
        _ request: AppendRequest, in txn: borrowing Transaction, state: inout BatchState
    ) throws -> Result<AppendResult, EventLogError> {
        if let rejection = validate(request) { return .failure(rejection) }
        var head = try state.heads.head(of: request.stream) ?? currentHead(of: request.stream, in: txn)
        guard request.expected.isMet(byCurrent: head.version) else {
            return .failure(.conflict(stream: request.stream, expected: request.expected, actual: head.version))
        }
        for claim in request.claims where claim.action == .claim {
            if let holder = try owner(of: claim.key, in: claim.scope, txn: txn), holder != request.stream {
                return .failure(.uniqueViolation(scope: claim.scope))
            }
        }
        let first = state.head.position + 1
        try request.events.withUnsafeBufferPointer { events in
            for index in events.indices {
                try append(events[index], after: head, of: request.stream, in: txn, state: &state)
                head = StreamHead(version: head.version + 1, position: state.head.position)
            }
        }
        try writeHead(head, of: request.stream, in: txn)
        try apply(request.claims, for: request.stream, in: txn)
        state.head.recordedAt = state.now
        state.heads.set(head, for: request.stream)
        return .success(
            AppendResult(
                stream: request.stream, firstPosition: first, lastPosition: state.head.position,
                streamVersion: head.version, recordedAt: state.now))
    }

    /// Writes one event at the next position, as its stream's next after `previous`: its
    /// envelope and chain hash and its link; keeps it for the projection if one is attached.
    private func append(
        _ event: NewEvent, after previous: StreamHead, of stream: UUID, in txn: borrowing Transaction,
        state: inout BatchState
    ) throws {
        let position = state.head.position + 1
        let version = previous.version + 1
        state.encoder.reset()
        Envelope.writeCanonical(
            of: event, position: position, streamID: stream, streamVersion: version,
            recordedAt: state.now, to: &state.encoder)
        let canonical = state.encoder.bytes
        let hash = canonical.withUnsafeBytes { state.hasher.next(after: state.head.hash, canonical: $0) }
        try withPositionKey(position) { key in
            try txn.put(events, key: key, reserving: canonical.count + Envelope.hashSize, flags: .append) { slot in
                canonical.withUnsafeBytes { slot.copyMemory(from: $0) }
                hash.store(to: slot.baseAddress! + canonical.count)
            }
        }
        try link(position, after: previous.position, in: txn)
        state.head.position = position
        state.head.hash = hash
        if state.projector != nil {
            state.recorded.append(
                RecordedEvent(
                    position: position, streamID: stream, streamVersion: version, type: event.type,
                    schemaVersion: event.schemaVersion, recordedAt: state.now, metadata: event.metadata,
                    payload: event.payload, hash: hash))
        }
    }

    private func apply(_ claims: [UniqueClaim], for stream: UUID, in txn: borrowing Transaction) throws {
        for claim in claims {
            try withUniqueKey(claim.scope, claim.key) { key in
                switch claim.action {
                case .claim:
                    try withUnsafeBytes(of: stream.uuid) { try txn.put(unique, key: key, value: $0) }
                case .release:
                    if try owner(of: claim.key, in: claim.scope, txn: txn) == stream {
                        try txn.delete(unique, key: key)
                    }
                }
            }
        }
    }

    private func validate(_ request: AppendRequest) -> EventLogError? {
        if request.events.isEmpty { return .emptyAppend }
        if request.events.count > NewEvent.maximumEventsPerAppend {
            return .tooManyEvents(count: request.events.count, limit: NewEvent.maximumEventsPerAppend)
        }
        let invalid = request.events.withUnsafeBufferPointer { events -> EventLogError? in
            for index in events.indices where !events[index].isWithinLimits {
                do throws(EventLogError) { try events[index].validate() } catch { return error }
            }
            return nil
        }
        if let invalid { return invalid }
        for claim in request.claims {
            if claim.scope.utf8.isEmpty || claim.scope.utf8.count > 64 || claim.key.isEmpty || claim.key.count > 256 {
                return .invalidEvent("a unique claim needs a scope of 1 to 64 bytes and a key of 1 to 256 bytes")
            }
        }
        return nil
    }
}

/// What one write transaction tracks as it goes.
private struct BatchState {
    var head: LogHead
    let startPosition: UInt64
    var now = Timestamp(microsecondsSince1970: 0)
    /// Stream heads written earlier in this transaction.
    var heads = StreamHeads()
    var encoder = ByteWriter(capacity: 1_024)
    let hasher = ChainHasher()
    var projector: (any TransactionalProjector)?
    /// The events written so far, for the projector (kept only when one is attached).
    var recorded: [RecordedEvent] = []

    init(head: LogHead) {
        self.head = head
        self.startPosition = head.position
    }
}

extension NewEvent {
    /// The limits ``validate()`` checks, read in place: calling `validate()` on an event that
    /// sits in an array copies it (retaining its strings and payload), so it is called only to
    /// name the limit an event breaks.
    @inline(__always)
    fileprivate var isWithinLimits: Bool {
        (1...255).contains(type.utf8.count) && metadata.actor.utf8.count <= 255
            && metadata.correlationID.utf8.count <= 255 && payload.count <= Self.maximumPayloadSize
    }
}
