import Synchronization

/// The log position the answer to a caller's commands rests on: what the HTTP layer returns
/// as `Authlog-Position`, so a client can ask a read to wait until the read model has it.
///
/// The caller makes a receipt and runs its commands inside ``collecting(_:)``; the service
/// records in the current receipt (a task-local, so no command's signature or result changes,
/// and a rejection that is thrown after appending, like `LoginFailed`, still reports where it
/// landed):
/// - for a command that appended, the position of its last event
///   (`AppendResult.lastPosition`);
/// - for a command decided against the log that appended nothing (a rejection that records
///   nothing, a reset asked for an unknown address, a change that changes nothing, erasing an
///   erased user), the log's head read after the decision: at or after everything the
///   decision read, so waiting for it is enough to read consistently with the answer.
///
/// Nothing is recorded for a request refused before the log was consulted (a malformed field,
/// a weak password, a busy hashing pool). Several commands in one receipt keep the highest
/// position. Without a receipt (authctl, the seeder) nothing is recorded and no head is read.
public final class PositionReceipt: Sendable {
    @TaskLocal public static var current: PositionReceipt?

    private let recorded = Mutex<UInt64?>(nil)

    public init() {}

    /// The highest position recorded, or `nil` when no command got as far as the log.
    public var position: UInt64? { recorded.withLock { $0 } }

    public func record(_ position: UInt64) {
        recorded.withLock { $0 = max($0 ?? 0, position) }
    }

    /// Runs `body` with this receipt as the ``current`` one.
    public func collecting<Result>(_ body: () async throws -> Result) async rethrows -> Result {
        try await Self.$current.withValue(self) { try await body() }
    }
}
