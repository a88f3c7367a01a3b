import Foundation

/// A walk along a stored log's hash chain from `start` through `end`, one stored event at a
/// time in position order: the checks every backend's `verify` makes, written once.
///
/// Rules:
/// - each event must be at the next position, parse as an envelope naming that position, and
///   carry the hash its canonical bytes chain to from the one before;
/// - the walk ends intact only if it reached `end`, and, for a whole-log walk, with the hash
///   and the time the recorded head holds (``finish(last:recordedHead:)``): every commit sets
///   the head's time to its events' time, and the next commit's events take no earlier one.
public struct ChainWalk {
    public let start: UInt64
    public let end: UInt64
    /// The position the next event must have.
    public private(set) var expected: UInt64
    /// The hash of the last event linked (the genesis hash before position 1).
    public private(set) var previous: ChainHash
    /// The time of the last event linked (nil before the first).
    private var previousTime: Timestamp?
    private var scratch: [UInt8] = []

    /// A walk whose first event is at `start`, chained to `previous` (the hash of the event
    /// before it).
    public init(start: UInt64, end: UInt64, previous: ChainHash) {
        self.start = start
        self.end = end
        self.expected = start
        self.previous = previous
    }

    /// The walk a verification of `log` from `position` (1 at the least) through `last` (the
    /// recorded head when `nil`) makes, chained to the hash of the event before its start,
    /// read from `log`; that event missing is the break.
    public static func starting(
        in log: some EventLog, from position: UInt64, through last: UInt64?, recordedHead: LogHead
    ) throws -> Starting {
        let start = max(position, 1)
        let end = last ?? recordedHead.position
        guard start > 1 else { return .walking(ChainWalk(start: start, end: end, previous: .genesis)) }
        guard let before = try log.read(from: start - 1, limit: 1).first, before.position == start - 1 else {
            return .broken(ChainBreak(position: start - 1, reason: .missing))
        }
        return .walking(ChainWalk(start: start, end: end, previous: before.hash))
    }

    /// What ``starting(in:from:through:recordedHead:)`` found.
    public enum Starting {
        case walking(ChainWalk)
        case broken(ChainBreak)
    }

    /// What one stored event links: its recomputed hash and the stream and version its
    /// envelope names.
    public struct Link {
        public var hash: ChainHash
        public var stream: UUID
        public var version: UInt64
        public var recordedAt: Timestamp
    }

    /// An event checked: linked to the chain, or the break it is.
    public enum Step {
        case linked(Link)
        case broken(ChainBreak)
    }

    /// Checks the event stored at `position` against the chain, without moving on: a caller
    /// with more checks of its own makes them, then calls ``advance(_:)``.
    public mutating func check(_ position: UInt64, stored: UnsafeRawBufferPointer) -> Step {
        guard position == expected else { return .broken(ChainBreak(position: expected, reason: .missing)) }
        let view: EnvelopeView
        do {
            view = try Envelope.parse(stored)
        } catch {
            return .broken(ChainBreak(position: position, reason: .malformed(String(describing: error))))
        }
        guard view.position == position else {
            return .broken(ChainBreak(position: position, reason: .positionMismatch(found: view.position)))
        }
        let computed = previous.next(canonicalBytes: view.canonicalBytes, scratch: &scratch)
        guard computed == view.hash else { return .broken(ChainBreak(position: position, reason: .hashMismatch)) }
        return .linked(
            Link(hash: computed, stream: view.streamID, version: view.streamVersion, recordedAt: view.recordedAt))
    }

    /// Moves on past an event whose ``check(_:stored:)`` linked to `link`.
    public mutating func advance(_ link: Link) {
        previous = link.hash
        previousTime = link.recordedAt
        expected += 1
    }

    /// How the walk ended, once no stored event is left: the break it is, if it stopped short
    /// of `end` or (walking the whole log, `last` nil) its hash is not the recorded head's.
    public func finish(last: UInt64?, recordedHead: LogHead) -> ChainBreak? {
        if expected <= end {
            let reason: ChainBreak.Reason = last == nil ? .truncated(recordedHead: end) : .missing
            return ChainBreak(position: expected, reason: reason)
        }
        if last == nil && end > 0 && previous != recordedHead.hash {
            return ChainBreak(position: end, reason: .headMismatch)
        }
        if last == nil, let previousTime, previousTime != recordedHead.recordedAt {
            return ChainBreak(position: end, reason: .headTimeMismatch)
        }
        return nil
    }

    /// The walk's result when nothing broke.
    public var intact: ChainVerification {
        .intact(count: end >= start ? end - start + 1 : 0, through: end, head: previous)
    }
}
