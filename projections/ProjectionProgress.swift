import AuthDomain
import EventLog
import EventLogLMDB

/// The users projection's ``ReadModelProgress`` over the log it is folded from in the
/// appends' own transactions (authd's embedded log): its position is the projection's
/// checkpoint.
///
/// Rules, beyond the port's:
/// - Every writer of this log (authd, authctl) folds the projection inside the transaction
///   that appends, so the checkpoint is the log's head and a target at or below it answers at
///   once, without waiting.
/// - A target beyond the log's head answers at once, unreached: no answer ever named a
///   position that is not yet committed, and only another log could have (a client mixing
///   up two data directories); waiting for it would only hold the request.
/// - A checkpoint behind the head means a writer without the projector appended (an older
///   build); the next append folds what it wrote, so that case waits by polling
///   (``PositionPolling``), at most the timeout.
public struct ProjectionProgress: ReadModelProgress {
    let projection: UserProjection

    public init(_ projection: UserProjection) {
        self.projection = projection
    }

    public func position() throws -> UInt64 {
        try projection.status()?.checkpoint ?? 0
    }

    public func waitForPosition(_ target: UInt64, timeout: Duration) async throws -> UInt64 {
        let log = projection.log
        let (checkpoint, head) = try log.environment.read { txn in
            (try projection.entry(in: txn)?.checkpoint ?? 0, try log.headPosition(in: txn))
        }
        if checkpoint >= target || target > head { return checkpoint }
        return try await PositionPolling.wait(for: target, timeout: timeout) { try position() }
    }
}
