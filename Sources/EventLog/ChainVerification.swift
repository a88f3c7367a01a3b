/// What recomputing the hash chain found.
public enum ChainVerification: Hashable, Sendable {
    /// Every event in the range links to the one before; `head` is the last event's hash.
    case intact(count: UInt64, through: UInt64, head: ChainHash)
    /// The first position where the chain breaks, and how.
    case broken(ChainBreak)
}

/// The first break in the chain.
public struct ChainBreak: Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// The stored hash is not SHA-256(previous hash || canonical bytes): bytes changed.
        case hashMismatch
        /// No event is stored at this position (a deletion).
        case missing
        /// The event stored here names another position (moved or swapped).
        case positionMismatch(found: UInt64)
        /// The stored bytes are not an envelope.
        case malformed(String)
        /// The log ends before the head the log recorded at its last commit.
        case truncated(recordedHead: UInt64)
        /// The recorded head hash differs from the last event's hash.
        case headMismatch
        /// A checkpoint (or a head given to compare with) is not signed by the log's key.
        case signatureInvalid
        /// The chain is consistent, but its hash at `signedAt` is not the signed one: an event
        /// from this position through `signedAt` was changed, added, dropped or moved.
        case signedHashMismatch(signedAt: UInt64)
        /// Events from this position on follow the last signed checkpoint: written without the key.
        case unsignedTail(signedThrough: UInt64)
        /// The log ends before this position, but a checkpoint signed `signedThrough`.
        case cutShort(signedThrough: UInt64)
        /// An event is stored past the head recorded at the last commit.
        case pastHead(recordedHead: UInt64)
        /// The stream index (derived, unhashed) disagrees with the events.
        case misfiled(String)
        /// The head record's time (which the next commit's events take as their earliest) is
        /// not the last event's, or not the time its signed checkpoint holds: the head record
        /// was rewritten.
        case headTimeMismatch
    }

    public var position: UInt64
    public var reason: Reason

    public init(position: UInt64, reason: Reason) {
        self.position = position
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .hashMismatch: return "position \(position): hash does not match its bytes and the previous hash"
        case .missing: return "position \(position): event missing"
        case .positionMismatch(let found): return "position \(position): holds the event of position \(found)"
        case .malformed(let detail): return "position \(position): not a valid envelope (\(detail))"
        case .truncated(let head): return "position \(position): log ends here but its head was \(head)"
        case .headMismatch: return "position \(position): recorded head hash differs from the last event's"
        case .signatureInvalid:
            return "position \(position): the checkpoint's signature does not verify under the log's key"
        case .signedHashMismatch(let signed):
            return
                "position \(position): an event from here through position \(signed) differs from what was signed at \(signed)"
        case .unsignedTail(let signed):
            return
                "position \(position): events from here on follow the last signed checkpoint (\(signed)): written without the signing key"
        case .pastHead(let head):
            return "position \(position): an event is stored past the head recorded at the last commit (\(head))"
        case .misfiled(let detail): return "position \(position): \(detail)"
        case .headTimeMismatch:
            return
                "position \(position): the head record's time differs from the last event's or its signed checkpoint's: the head record was rewritten"
        case .cutShort(let signed):
            return
                "position \(position): the log ends before this position, but position \(signed) was signed: it was cut short"
        }
    }
}
