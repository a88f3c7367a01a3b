import AuthDomain
import EventLog

/// A node's read model progress when its projection is a copy of a shared log
/// (``LogMirror``): the position it has copied and folded.
///
/// Rules, beyond ``ReadModelProgress``'s:
/// - A target not yet reached wakes the mirror (a write on this node, or a position another
///   node answered with) and waits for the copy that reaches it (``PositionWaiters``: woken
///   by the copy itself, no polling) or the timeout.
/// - A stopped mirror (``LogMirror/Failure``) answers at once with the position it reached.
public struct MirrorProgress: ReadModelProgress {
    let mirror: LogMirror

    public init(_ mirror: LogMirror) {
        self.mirror = mirror
    }

    public func position() throws -> UInt64 { mirror.position }

    public func waitForPosition(_ target: UInt64, timeout: Duration) async throws -> UInt64 {
        let reached = mirror.position
        if reached >= target || mirror.stopped != nil { return reached }
        mirror.wake(toward: target)
        return await mirror.waiters.wait(for: target, timeout: timeout)
    }
}
