import EventLog
import Foundation

/// What the console's log page shows of the storage, behind a port authd fills in (the HTTP
/// layer knows no storage module).
public protocol ConsoleLogSource: Sendable {
    /// Where the log and the read model stand now.
    func status() throws -> ConsoleLogStatus
    /// Recomputes the whole chain and checks its signed checkpoints (as `authctl verify` does).
    /// Slow on a long log: the console runs one at a time.
    func verify() throws -> LogVerification
}

/// The log's head, its signed head and the read model's generation and checkpoint.
public struct ConsoleLogStatus: Sendable {
    public var headPosition: UInt64
    public var headHash: ChainHash
    /// The newest checkpoint the log's key signed (the head's, on a log that signs), if any.
    public var signedHead: Checkpoint?
    /// The log's public key (hex), when the log is signed.
    public var publicKey: String?
    /// The users projection's live generation (0 or 1) and the last position folded into it.
    public var projectionGeneration: Int?
    public var projectionCheckpoint: UInt64
    /// Where the log is kept (`embedded`, or the shared log's location).
    public var location: String

    public init(
        headPosition: UInt64, headHash: ChainHash, signedHead: Checkpoint?, publicKey: String?,
        projectionGeneration: Int?, projectionCheckpoint: UInt64, location: String
    ) {
        self.headPosition = headPosition
        self.headHash = headHash
        self.signedHead = signedHead
        self.publicKey = publicKey
        self.projectionGeneration = projectionGeneration
        self.projectionCheckpoint = projectionCheckpoint
        self.location = location
    }
}
