import EventLog
import Foundation
import PostgresNIO
import Signatures

extension PostgresEventLog {
    /// Recomputes `hash(n) = SHA-256(hash(n-1) || canonical bytes of n)` over the range and
    /// names the first position where it breaks; checks that each row's position and stream
    /// columns are the envelope's. Over the whole log it also checks the head row, so a
    /// cut-off tail, or an event stored past the head, is found too.
    public func verify(from position: UInt64 = 1, through last: UInt64? = nil) throws -> ChainVerification {
        let (recordedHead, lastStored) = try headAndLastStored()
        if last == nil, lastStored > recordedHead.head.position {
            let head = recordedHead.head.position
            return .broken(ChainBreak(position: head + 1, reason: .pastHead(recordedHead: head)))
        }
        return try verify(from: position, through: last, recordedHead: recordedHead.head) { _, _ in nil }
    }

    /// The head row and the last stored position, read in one statement.
    func headAndLastStored() throws -> (PostgresHead, UInt64) {
        try readers.withConnection { connection throws(EventLogError) in
            _ = try connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { _ = try? connection.run("COMMIT") }
            let head = try PostgresHead.read(on: connection)
            let last =
                try connection.run("SELECT coalesce(max(position), 0) FROM authlog.events").first?.column(Int64.self)
                ?? 0
            return (head, UInt64(last))
        }
    }

    /// The chain walk: `visit` sees each position's recomputed hash and may stop the walk
    /// with a break of its own.
    func verify(
        from position: UInt64, through last: UInt64?, recordedHead: LogHead,
        visit: (UInt64, ChainHash) -> ChainBreak?
    ) throws -> ChainVerification {
        let start = max(position, 1)
        let end = last ?? recordedHead.position
        var previous = ChainHash.genesis
        if start > 1 {
            let before = try read(from: start - 1, limit: 1)
            guard let event = before.first, event.position == start - 1 else {
                return .broken(ChainBreak(position: start - 1, reason: .missing))
            }
            previous = event.hash
        }
        var expected = start
        var failure: ChainBreak?
        var scratch: [UInt8] = []
        try forEachStored(from: start, through: end) { key, stream, version, stored in
            guard key == expected else {
                failure = ChainBreak(position: expected, reason: .missing)
                return false
            }
            let checked = stored.withUnsafeReadableBytes { bytes -> Checked in
                let view: EnvelopeView
                do {
                    view = try Envelope.parse(bytes)
                } catch {
                    return .broken(ChainBreak(position: key, reason: .malformed(String(describing: error))))
                }
                guard view.position == key else {
                    return .broken(ChainBreak(position: key, reason: .positionMismatch(found: view.position)))
                }
                let computed = previous.next(canonicalBytes: view.canonicalBytes, scratch: &scratch)
                guard computed == view.hash else { return .broken(ChainBreak(position: key, reason: .hashMismatch)) }
                return .linked(computed, stream: view.streamID, version: view.streamVersion)
            }
            switch checked {
            case .broken(let broken):
                failure = broken
                return false
            case .linked(let computed, let streamID, let streamVersion):
                guard streamID == stream, streamVersion == version else {
                    failure = ChainBreak(
                        position: key, reason: .misfiled("the stream columns name it for another stream or version"))
                    return false
                }
                if let broken = visit(key, computed) {
                    failure = broken
                    return false
                }
                previous = computed
                expected += 1
                return true
            }
        }
        if let failure { return .broken(failure) }
        if expected <= end {
            let reason: ChainBreak.Reason = last == nil ? .truncated(recordedHead: end) : .missing
            return .broken(ChainBreak(position: expected, reason: reason))
        }
        if last == nil && end > 0 && previous != recordedHead.hash {
            return .broken(ChainBreak(position: end, reason: .headMismatch))
        }
        return .intact(count: end >= start ? end - start + 1 : 0, through: end, head: previous)
    }
}

/// One stored event checked against the chain: its recomputed hash and what its envelope
/// names, or the break it is.
private enum Checked {
    case linked(ChainHash, stream: UUID, version: UInt64)
    case broken(ChainBreak)
}
