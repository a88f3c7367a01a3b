/// Waiting for a position that only moves forward (a read model's checkpoint) to reach a
/// target, by asking for it again and again: for a read model that cannot say when it moves.
///
/// Rules:
/// - The position is read at once; when it is at least the target, that is the answer, with
///   no wait at all.
/// - Otherwise it is read again after 1 ms, then after twice as long each time, at most
///   ``longestPause`` apart, and once more at the deadline: it never sleeps past `timeout`.
/// - It returns the last position read: at least the target when reached, less when the
///   deadline passed or the task was cancelled first.
public enum PositionPolling {
    /// The longest pause between two reads of the position.
    public static let longestPause = Duration.milliseconds(50)

    public static func wait(
        for target: UInt64, timeout: Duration, position: () throws -> UInt64
    ) async throws -> UInt64 {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: max(timeout, .zero))
        var pause = Duration.milliseconds(1)
        var seen = try position()
        while seen < target, !Task.isCancelled {
            let now = clock.now
            guard now < deadline else { break }
            do {
                try await clock.sleep(until: min(now.advanced(by: pause), deadline))
            } catch {
                break  // cancelled: answer with what was seen
            }
            pause = min(pause * 2, longestPause)
            seen = try position()
        }
        return seen
    }
}
