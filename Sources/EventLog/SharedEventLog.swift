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
///   (it may call it more often, and calls it when it starts listening and when it lost its
///   connection to the log, so that a follower looks again rather than trust a silence).
public protocol SharedEventLog: EventLog {
    /// The stored form of up to `limit` events from `position` on.
    func storedEnvelopes(from position: UInt64, limit: Int) throws -> [[UInt8]]

    /// The claims each of `streams` holds now, as `.claim` entries; streams holding none are absent.
    func claims(of streams: Set<UUID>) throws -> [UUID: [UniqueClaim]]

    /// The head's position and its checkpoint, read together, unverified (`nil` for a log
    /// that has none).
    func signedHead() throws -> (position: UInt64, checkpoint: Checkpoint?)

    /// Calls `moved` whenever the head may have moved, from whatever thread hears it (keep it
    /// short: wake a thread, do not read the log in it), until the watch is stopped or the
    /// log closed.
    func watchHead(_ moved: @escaping @Sendable () -> Void) -> HeadWatch
}

extension SharedEventLog {
    /// ``watchHead(_:)`` as a stream: yields whenever the head may have moved; stops watching
    /// when its reader stops iterating.
    public func headMoves() -> AsyncStream<Void> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let watch = watchHead { continuation.yield(()) }
            continuation.onTermination = { _ in watch.stop() }
        }
    }
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
