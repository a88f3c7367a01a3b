import Foundation

/// A log that several processes append to, which each of them follows into a local copy (the
/// shared log of a cluster of nodes): the stored bytes to copy, the claims to copy with them,
/// and a signal that the head moved.
///
/// Rules every shared log keeps, beyond ``EventLog``'s:
/// - ``storedEnvelopes(from:limit:)`` returns each event's stored form (canonical bytes, then
///   its 32-byte chain hash) as committed, in position order, with no gap: a copy that appends
///   them as they are continues the same chain.
/// - ``headMoves()`` yields at least once after every commit that moved the head (it may yield
///   more often, and yields when it lost its connection to the log, so that a follower looks
///   again rather than trust a silence).
public protocol SharedEventLog: EventLog {
    /// The stored form of up to `limit` events from `position` on.
    func storedEnvelopes(from position: UInt64, limit: Int) throws -> [[UInt8]]

    /// The claims each of `streams` holds now, as `.claim` entries; streams holding none are absent.
    func claims(of streams: Set<UUID>) throws -> [UUID: [UniqueClaim]]

    /// The head's position and its checkpoint, read together, unverified (`nil` for a log
    /// that has none).
    func signedHead() throws -> (position: UInt64, checkpoint: Checkpoint?)

    /// Wakes its reader whenever the head may have moved. Ends when the log is closed.
    func headMoves() -> AsyncStream<Void>
}
