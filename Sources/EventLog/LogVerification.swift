/// What verifying a log's chain and its signatures found.
public enum LogVerification: Hashable, Sendable {
    /// The chain is intact and its head is signed: every event through `head` is as the
    /// holder of the signing key wrote it. `intervals` interval checkpoints also matched.
    case signed(count: UInt64, head: Checkpoint, intervals: Int)
    /// The chain is intact but the log carries no checkpoint (written before signing): this
    /// proves only that whoever last wrote the log kept its chain consistent.
    case unsigned(count: UInt64, through: UInt64, head: ChainHash)
    /// The first position the verification can prove bad, and why.
    case broken(ChainBreak)
}

extension ChainVerification {
    /// A broken chain as a log verification; an intact one, with nothing signed, as unsigned.
    public var asLogVerification: LogVerification {
        switch self {
        case .intact(let count, let through, let head): return .unsigned(count: count, through: through, head: head)
        case .broken(let failure): return .broken(failure)
        }
    }
}
