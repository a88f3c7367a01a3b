/// The last committed event's position, hash and time, rewritten by every write transaction
/// of every backend: it lets the next writer chain on without a search, and lets a
/// verification notice a cut-off tail.
public struct LogHead: Equatable, Sendable {
    public var position: UInt64
    public var hash: ChainHash
    public var recordedAt: Timestamp

    /// The head of a log with no event.
    public static let empty = LogHead(position: 0, hash: .genesis, recordedAt: Timestamp(microsecondsSince1970: 0))

    public init(position: UInt64, hash: ChainHash, recordedAt: Timestamp) {
        self.position = position
        self.hash = hash
        self.recordedAt = recordedAt
    }
}
