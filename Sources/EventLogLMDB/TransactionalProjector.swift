import EventLog
import LMDB

/// Keeps derived databases (projections) in step with the log inside the log's own write
/// transaction, so a read after an acknowledged append sees its effects and uniqueness checks
/// see every commit.
///
/// Rules:
/// - `project` runs on the writer thread, inside the write transaction, once per batch that
///   wrote events (not for one whose every request was refused), with the batch's events in
///   position order, after the last of them is written (nothing the log checks while it
///   appends is read from a projection). Other callers may pass only a batch's last event:
///   the projector folds what lies between its checkpoint and an event from the log.
/// - Events at or before the projector's checkpoint are already folded: it skips them.
/// - It must not begin transactions of its own, block, or `await`.
/// - An error it throws fails the whole batch: nothing in it is acknowledged.
/// - It reads what it needs from `txn`, never from a cache another process could have
///   outdated (another process may append without a projector; catch up from the log).
public protocol TransactionalProjector: Sendable {
    func project(_ events: [RecordedEvent], in txn: borrowing Transaction) throws
}

extension LMDBEventLog {
    /// Attaches the projector every later batch calls (see ``TransactionalProjector``).
    public func attach(_ projector: any TransactionalProjector) {
        storage.projector.withLock { $0 = projector }
    }
}
