import AuthDomain
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import LMDB

extension LogMirror {
    /// The local database of the claims each stream held when it was last copied:
    /// stream id (16 bytes) -> the claims, each as scope length (u8), scope, key length (u16
    /// big-endian), key. What a stream gives up is found here, since its events may no longer
    /// say it (an erased user's address cannot be read).
    static let claimsDatabase = "mirror-claims"

    /// A batch read from the shared log, checked to follow a head, with what its copy needs.
    struct Batch {
        var events: [[UInt8]]
        /// The streams with an event that changes claims (``UserEvent/Kind/changesClaims``):
        /// only theirs are read and copied again.
        var streams: Set<UUID>
        var claims: [UUID: [UniqueClaim]]
        var last: RecordedEvent
    }

    /// Checks that `events` follow `head` position by position, forgets the data keys of the
    /// users they erase, and reads the claims of the streams whose claims they change (none,
    /// and no query, for a batch of logins and rotations); `nil` for no events.
    func prepare(_ events: [[UInt8]], after head: UInt64) throws -> Batch? {
        var streams = Set<UUID>()
        var erased: [UUID] = []
        var last: RecordedEvent?
        for (offset, stored) in events.enumerated() {
            try stored.withUnsafeBytes { raw in
                let view = try Envelope.parse(raw)
                guard view.position == head + 1 + UInt64(offset) else {
                    throw Failure.broken(
                        position: head + 1 + UInt64(offset), detail: "the shared log sent position \(view.position)")
                }
                let kind = try UserEventSealing.kind(of: view)
                if kind.changesClaims { streams.insert(view.streamID) }
                if kind == .erased { erased.append(view.streamID) }
                if offset == events.count - 1 { last = view.recorded }
            }
        }
        for user in erased { keys.forget(user) }
        guard let last else { return nil }
        return Batch(
            events: events, streams: streams, claims: try fromShared { try shared.claims(of: streams) }, last: last)
    }

    /// Writes `batch` (its events from index `skip` on) with its streams' claims and folds it
    /// into the projection, in `txn`. The copy's head was found in the shared log just before,
    /// so a batch that does not chain to it is a shared log broken there (``Failure/broken``).
    func write(_ batch: Batch, from skip: Int = 0, in txn: borrowing Transaction) throws {
        do {
            try local.importStored(Array(batch.events[skip...]), in: txn)
        } catch EventLogError.corrupt(let position, let detail) {
            throw Failure.broken(position: position, detail: detail)
        }
        for stream in batch.streams { try replaceClaims(of: stream, with: batch.claims[stream] ?? [], in: txn) }
        try projection.project([batch.last], in: txn)
    }

    /// Copies one batch that the shared log holds after `head`, with its streams' claims and
    /// the projection, in one local transaction.
    func copy(_ events: [[UInt8]], after head: UInt64) throws {
        guard let batch = try prepare(events, after: head) else { return }
        try local.withWriteTransaction { txn in
            // Another process copying into the same directory (authctl beside authd) may
            // have copied part of the batch since the head was read.
            let now = try local.headPosition(in: txn)
            let done = now > head ? Int(min(now - head, UInt64(events.count))) : 0
            guard done < events.count else { return }
            try write(batch, from: done, in: txn)
        }
        advance(to: batch.last.position)
    }

    /// ``copyAgain()`` unless a failed one asks to wait: then its error, at once.
    func copyAgainWhenDue() throws {
        let (due, last) = retry.withLock { ($0.notBefore <= .now, $0.error) }
        if !due, let last { throw last }
        do {
            try copyAgain()
            retry.withLock { $0 = (0, .now, nil) }
        } catch {
            retry.withLock { state in
                state.failures += 1
                let delay = min(.seconds(300), firstRetry * (1 << min(state.failures - 1, 10)))
                state.notBefore = .now + delay
                state.error = error
            }
            throw error
        }
    }

    /// Runs a read of the shared log; a record of it that cannot be read as the log's
    /// (`EventLogError.corrupt`: a gap, a malformed head or checkpoint) is ``Failure/broken``,
    /// so that it is never taken for a fault of the copy.
    func fromShared<Value>(_ read: () throws -> Value) throws -> Value {
        do {
            return try read()
        } catch EventLogError.corrupt(let position, let detail) {
            throw Failure.broken(position: position, detail: detail)
        }
    }

    /// Makes the copy again from the shared log in one local transaction: the old events,
    /// claims and projection go, and the shared log's events through its signed head come,
    /// folded. With ``logKey`` the head checkpoint must be that key's, and the copied events
    /// must end on the hash it signs (``Failure/unsigned`` otherwise: nothing is written);
    /// events after it are copied as usual, at the next look.
    /// `first`: the first copy into an empty copy, not counted in ``timesCopiedAgain``.
    func copyAgain(first: Bool = false) throws {
        let (headPosition, checkpoint) = try fromShared { try shared.signedHead() }
        var target = headPosition
        if let logKey {
            guard let checkpoint else {
                // An empty shared log replaces no copy that holds events: it could be a log
                // emptied behind its back, whose later events nothing signs.
                if headPosition == 0, try local.headPosition() == 0 {
                    return try copyAgain(through: 0, endingOn: nil, first: first)
                }
                throw Failure.unsigned(
                    detail: headPosition == 0
                        ? "it is empty, with no signed head, and this node's copy is not: start the node on an empty data directory if the log was emptied on purpose"
                        : "it holds \(headPosition) events but no head checkpoint")
            }
            guard checkpoint.role == .head, checkpoint.isSigned(by: logKey) else {
                throw Failure.unsigned(detail: "its head checkpoint is not signed by the log's key")
            }
            target = checkpoint.position
        }
        try copyAgain(through: target, endingOn: logKey == nil ? nil : checkpoint?.hash, first: first)
    }

    private func copyAgain(through target: UInt64, endingOn hash: ChainHash?, first: Bool) throws {
        let reached: UInt64
        do {
            reached = try copyAgainInOneTransaction(through: target, endingOn: hash)
        } catch {
            projection.resetAbandoned()
            throw error
        }
        copyingAgain.store(false, ordering: .releasing)
        advance(to: reached)
        if first {
            logger.info("copied the shared log through its signed head", metadata: ["position": "\(reached)"])
        } else {
            copiesMadeAgain.add(1, ordering: .relaxed)
            logger.notice("made this node's copy of the shared log again", metadata: ["position": "\(reached)"])
        }
    }

    private func copyAgainInOneTransaction(through target: UInt64, endingOn hash: ChainHash?) throws -> UInt64 {
        try local.withWriteTransaction { txn -> UInt64 in
            try local.removeAllEvents(in: txn)
            try local.markWrittenInMap(in: txn)  // the directory now holds this node's copy
            try txn.clear(claimsTable)
            try projection.reset(in: txn)
            var head: UInt64 = 0
            while head < target {
                let events = try fromShared {
                    try shared.storedEnvelopes(from: head + 1, limit: Int(min(UInt64(Self.batchLimit), target - head)))
                }
                guard let batch = try prepare(events, after: head) else { break }
                try write(batch, in: txn)
                head = batch.last.position
            }
            if let hash {
                let ends = try local.head(in: txn)
                guard ends.position == target, ends.hash == hash else {
                    throw Failure.unsigned(
                        detail:
                            "its events end at position \(ends.position), not on the hash its head checkpoint signs at \(target)"
                    )
                }
            }
            return head
        }
    }

    /// Gives up the claims `stream` held at its last copy that it no longer holds, and takes
    /// the ones it holds now.
    func replaceClaims(of stream: UUID, with current: [UniqueClaim], in txn: borrowing Transaction) throws {
        let key = withUnsafeBytes(of: stream.uuid) { Array($0) }
        let before =
            try key.withUnsafeBytes { try txn.get(claimsTable, key: $0) }.map { Self.decodeClaims(Array($0)) } ?? []
        let now = current.map { ClaimKey(scope: $0.scope, key: $0.key) }
        for old in before where !now.contains(old) {
            if try local.owner(of: old.key, in: old.scope, txn: txn) == stream {
                try local.releaseClaim(old.key, in: old.scope, txn: txn)
            }
        }
        for claim in now { try local.claim(claim.key, in: claim.scope, for: stream, txn: txn) }
        try key.withUnsafeBytes { keyBytes in
            if now.isEmpty {
                _ = try txn.delete(claimsTable, key: keyBytes)
            } else {
                try Self.encodeClaims(now).withUnsafeBytes { try txn.put(claimsTable, key: keyBytes, value: $0) }
            }
        }
    }

    struct ClaimKey: Equatable {
        var scope: String
        var key: [UInt8]
    }

    static func encodeClaims(_ claims: [ClaimKey]) -> [UInt8] {
        var bytes: [UInt8] = []
        for claim in claims {
            let scope = Array(claim.scope.utf8)
            bytes.append(UInt8(scope.count))
            bytes += scope
            bytes += [UInt8(claim.key.count >> 8), UInt8(claim.key.count & 0xff)]
            bytes += claim.key
        }
        return bytes
    }

    static func decodeClaims(_ bytes: [UInt8]) -> [ClaimKey] {
        var claims: [ClaimKey] = []
        var index = 0
        while index < bytes.count {
            let scopeLength = Int(bytes[index])
            index += 1
            guard index + scopeLength + 2 <= bytes.count else { break }
            let scope = String(decoding: bytes[index..<index + scopeLength], as: UTF8.self)
            index += scopeLength
            let keyLength = Int(bytes[index]) << 8 | Int(bytes[index + 1])
            index += 2
            guard index + keyLength <= bytes.count else { break }
            claims.append(ClaimKey(scope: scope, key: Array(bytes[index..<index + keyLength])))
            index += keyLength
        }
        return claims
    }
}
