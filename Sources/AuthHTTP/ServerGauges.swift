/// What the metrics page reports beside the requests, read each time it is rendered: authd
/// fills it from the log's group-commit statistics and the hashing pool, so the HTTP layer
/// depends on neither storage nor hashing for it.
public struct ServerGauges: Sendable {
    /// Appends acknowledged, events they carried, and commits (one fsync each).
    public var appends: UInt64 = 0
    public var appendedEvents: UInt64 = 0
    public var commits: UInt64 = 0
    /// The upper bounds of the batch-size histogram (appends per commit), ascending, and the
    /// commits whose batch fell in each bucket (not cumulative): the first bound it is within.
    public var batchSizeBounds: [Int] = []
    public var commitsByBatchSize: [UInt64] = []
    /// Password hashes waiting for the pool.
    public var kdfQueueDepth = 0
    /// ES256 signatures since start, by where their nonce came from: made ahead of time in
    /// idle CPU time, or made at signing because none was ready; and the nonces ready now.
    public var signaturesWithNonceMadeAhead = 0
    public var signaturesWithNonceMadeThen = 0
    public var noncesReady = 0
    /// Mail waiting in the outbox and mail given up on (`failed/`), now; messages the SMTP
    /// server accepted and delivery attempts that failed, since start (0 without SMTP).
    public var mailQueued = 0
    public var mailFailed = 0
    public var mailDelivered: UInt64 = 0
    public var mailDeliveryFailures: UInt64 = 0
    /// A cluster node's copy of the shared log, since start (`nil` on the embedded log): the
    /// looks that read the shared log, and the times the copy was made again.
    public var copyReads: Int?
    public var copiesMadeAgain: Int?

    public init() {}
}
