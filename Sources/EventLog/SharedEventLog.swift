import Foundation

/// A log that several processes append to, which each of them follows into a local copy (the
/// shared log of a cluster of nodes): the stored bytes to copy, the claims to copy with them,
/// and a signal that the head moved.
///
/// Rules every shared log keeps, beyond ``EventLog``'s:
/// - ``storedEnvelopes(from:limit:)`` returns each event's stored form (canonical bytes, then
///   its 32-byte chain hash) as committed, in position order, with no gap: a copy that appends
///   them as they are continues the same chain.
/// - ``watchHead(_:)`` calls its handler at least once after every commit that moved the head
///   (it may call it more often, and calls it with no position when it starts listening and
///   when it lost its connection to the log, so that a follower looks again rather than
///   trust a silence).
/// - ``whenCommitted(_:)`` hands over exactly what was committed: the same bytes a read
///   returns, at the same positions.
public protocol SharedEventLog: EventLog {
    /// The stored form of up to `limit` events from `position` on.
    func storedEnvelopes(from position: UInt64, limit: Int) throws -> [[UInt8]]

    /// The claims each of `streams` holds now, as `.claim` entries; streams holding none are absent.
    func claims(of streams: Set<UUID>) throws -> [UUID: [UniqueClaim]]

    /// The head's position and its checkpoint, read together, unverified (`nil` for a log
    /// that has none).
    func signedHead() throws -> (position: UInt64, checkpoint: Checkpoint?)

    /// Calls `moved` whenever the head may have moved, with the position it moved to when
    /// known (`nil`: look at the log), from whatever thread hears it (keep it short: wake a
    /// thread, do not read the log in it), until the watch is stopped or the log closed.
    func watchHead(_ moved: @escaping @Sendable (UInt64?) -> Void) -> HeadWatch

    /// From now on tells `news` of each batch this process commits, on the writer's thread
    /// (keep it short): ``CommitNews/committing(through:)`` before its COMMIT is sent, then
    /// ``CommitNews/committed(_:)`` with its stored form (see ``storedEnvelopes(from:limit:)``)
    /// before any of its appends returns, or ``CommitNews/failed``. One handler: a second call
    /// replaces the first.
    func whenCommitted(_ news: @escaping @Sendable (CommitNews) -> Void)
}

/// What a shared log's writer tells of its own commits (``SharedEventLog/whenCommitted(_:)``).
public enum CommitNews: Sendable {
    /// A batch through `position` is being committed: the notification of its commit may come
    /// before its ``committed(_:)`` or ``failed``.
    case committing(through: UInt64)
    /// The batch committed; here as stored.
    case committed(CommittedBatch)
    /// A batch announced may not have committed: it failed, or its outcome is not known.
    case failed
}

/// A batch this process committed to a shared log: the stored form of its events, from
/// position `first` on, as ``SharedEventLog/storedEnvelopes(from:limit:)`` would read them.
public struct CommittedBatch: Sendable {
    public var first: UInt64
    public var stored: [[UInt8]]

    public init(first: UInt64, stored: [[UInt8]]) {
        self.first = first
        self.stored = stored
    }

    /// The position of its last event.
    public var last: UInt64 { first + UInt64(stored.count) - 1 }
}

/// A watch of a shared log's head (``SharedEventLog/watchHead(_:)``), until ``stop()``.
public final class HeadWatch: Sendable {
    private let stopping: @Sendable () -> Void

    public init(stop: @escaping @Sendable () -> Void) {
        stopping = stop
    }

    /// Ends the watch: its handler is not called after this returns, but for a call already
    /// under way. Calling it again does nothing more.
    public func stop() { stopping() }
}
