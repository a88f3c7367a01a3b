/// How far the read model (what serves ``UserReads``) has folded the log, and a bounded wait
/// for it to reach a position: the port behind read-your-writes. A write answers with the
/// log position it reached (`Authlog-Position`); a read that names a position
/// (`Authlog-Min-Position`) is served only once the read model has reached it.
///
/// Rules every implementation keeps:
/// - ``position()`` is the last log position folded into the read model: every read that
///   starts after it returned sees the effect of every event at or before that position. It
///   never goes back.
/// - ``waitForPosition(_:timeout:)`` returns the position it last saw: at least `target` when
///   the read model reached it, less when it gave up. It returns at once when the target is
///   already reached, and never later than `timeout` after it was called (give or take one
///   check); it may give up at once when it knows the target cannot be reached within the
///   timeout (a target beyond the head of a log that nothing else feeds it). It suspends
///   rather than block a thread, appends nothing, and a cancelled task stops waiting.
public protocol ReadModelProgress: Sendable {
    /// The last log position folded into the read model (0 before its first build).
    func position() throws -> UInt64
    /// Waits, at most `timeout`, for ``position()`` to reach `target`; returns the last
    /// position seen (`>= target`: reached).
    func waitForPosition(_ target: UInt64, timeout: Duration) async throws -> UInt64
}
