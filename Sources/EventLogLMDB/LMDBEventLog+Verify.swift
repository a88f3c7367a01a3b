import EventLog
import Foundation
import LMDB

extension LMDBEventLog {
    /// Recomputes `hash(n) = SHA-256(hash(n-1) || canonical bytes of n)` over the range and
    /// names the first position where it breaks. Over the whole log it also checks the head
    /// recorded at the last commit, so a cut-off tail is found too.
    public func verify(from position: UInt64 = 1, through last: UInt64? = nil) throws -> ChainVerification {
        let recordedHead = try readTransaction { txn in try storage.head(in: txn) }
        return try verify(from: position, through: last, recordedHead: recordedHead) { _, _ in nil }
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
        try forEachStored(from: start) { key, stored in
            guard key <= end else { return false }
            guard key == expected else {
                failure = ChainBreak(position: expected, reason: .missing)
                return false
            }
            let view: EnvelopeView
            do {
                view = try Envelope.parse(stored)
            } catch {
                failure = ChainBreak(position: key, reason: .malformed(String(describing: error)))
                return false
            }
            guard view.position == key else {
                failure = ChainBreak(position: key, reason: .positionMismatch(found: view.position))
                return false
            }
            let computed = previous.next(canonicalBytes: view.canonicalBytes, scratch: &scratch)
            guard computed == view.hash else {
                failure = ChainBreak(position: key, reason: .hashMismatch)
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
