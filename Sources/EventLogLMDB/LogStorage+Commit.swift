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
                do { try growMap() } catch { return .failure(EventLogError(writing: error)) }
            } catch let error as LMDBError {
                return .failure(EventLogError(writing: error))
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
        let current = environment.mapSize
        let step = min(current, 1 << 30)
        try environment.setMapSize(current + step)
    }

    /// One write transaction for the whole batch. Each request is checked before any of its
    /// events is written, so a rejected request leaves no trace and its neighbours go ahead.
    /// The head and the stream versions are read inside this transaction, never from a
    /// cache, so another process's writes between two batches are respected.
    func write(_ batches: [[AppendRequest]]) throws -> [[Result<AppendResult, EventLogError>]] {
        let txn = try environment.beginTransaction(readOnly: false)
        var state = BatchState(head: try head(in: txn))
        state.now = max(clock(), state.head.recordedAt)
        state.projector = projector.withLock { $0 }
        let outcomes = try batches.map { requests in
            try requests.map { request in try append(request, in: txn, state: &state) }
        }
        if state.head.position != state.startPosition {
            try state.head.withEncoded { value in
                try LogLayout.headKey.withUnsafeBytes { try txn.put(meta, key: $0, value: value) }
            }
        }
        try txn.commit()
        return outcomes
    }

    private func append(
        _ request: AppendRequest, in txn: borrowing Transaction, state: inout BatchState
    ) throws -> Result<AppendResult, EventLogError> {
        if let rejection = validate(request) { return .failure(rejection) }
        let current = try state.versions[request.stream] ?? currentVersion(of: request.stream, in: txn)
        guard request.expected.isMet(byCurrent: current) else {
            return .failure(.conflict(stream: request.stream, expected: request.expected, actual: current))
        }
        for claim in request.claims where claim.action == .claim {
            if let holder = try owner(of: claim.key, in: claim.scope, txn: txn), holder != request.stream {
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
            let hash = canonical.withUnsafeBytes { state.head.hash.next(canonicalBytes: $0, scratch: &state.scratch) }
            try withPositionKey(position) { key in
                try txn.put(events, key: key, reserving: canonical.count + Envelope.hashSize, flags: .append) { slot in
                    canonical.withUnsafeBytes { slot.copyMemory(from: $0) }
                    hash.store(to: slot.baseAddress! + canonical.count)
                }
                try withStreamKey(request.stream, version) {
                    try txn.put(streams, key: $0, value: key, flags: .noOverwrite)
                }
            }
            state.head.position = position
            state.head.hash = hash
            if let projector = state.projector {
                try projector.project(
                    RecordedEvent(
                        position: position, streamID: request.stream, streamVersion: version, type: event.type,
                        schemaVersion: event.schemaVersion, recordedAt: state.now, metadata: event.metadata,
                        payload: event.payload, hash: hash),
                    in: txn)
            }
        }
        try apply(request.claims, for: request.stream, in: txn)
        state.head.recordedAt = state.now
        state.versions[request.stream] = version
        return .success(
            AppendResult(
                stream: request.stream, firstPosition: first, lastPosition: state.head.position,
                streamVersion: version, recordedAt: state.now))
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
        for event in request.events {
            do { try event.validate() } catch { return error }
        }
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
    /// Stream versions written earlier in this transaction.
    var versions: [UUID: UInt64] = [:]
    var encoder = ByteWriter(capacity: 1_024)
    var scratch: [UInt8] = []
    var projector: (any TransactionalProjector)?

    init(head: LogHead) {
        self.head = head
        self.startPosition = head.position
    }
}
