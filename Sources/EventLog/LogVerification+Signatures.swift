import Signatures

extension LogVerification {
    /// What a stored log and its checkpoints prove under `key`: every backend reads its
    /// records and walks its chain, and this decides, so the rules are written once.
    ///
    /// Rules, each naming the first position it can prove bad:
    /// - events stored past the recorded head were written around the writer (`pastHead`);
    /// - `since` (a signed head kept from earlier) must verify and be at or before the head,
    ///   and the chain must pass through its hash (the log still extends it);
    /// - every interval checkpoint must verify (a malformed one counts as forged) and match the
    ///   chain at its position;
    /// - the head checkpoint must verify and sign exactly the last event: one past it means a
    ///   cut-short log, one before it events written without the key;
    /// - a log with no checkpoint at all is ``unsigned``; one that had interval checkpoints
    ///   but lost its head checkpoint is broken (`unsignedTail`).
    ///
    /// `walk` walks the whole chain from position 1, calling its argument with each position's
    /// recomputed hash (a returned break stops the walk), as the backends' chain walks do.
    public static func checking(
        key: Ed25519Key, since: Checkpoint?, recordedHead: LogHead, lastStored: UInt64,
        headCheckpoint: Checkpoint?, intervals: [(UInt64, Checkpoint?)],
        walk: (_ visit: (UInt64, ChainHash) -> ChainBreak?) throws -> ChainVerification
    ) rethrows -> LogVerification {
        if lastStored > recordedHead.position {
            return .broken(
                ChainBreak(position: recordedHead.position + 1, reason: .pastHead(recordedHead: recordedHead.position)))
        }
        if let since {
            guard since.isSigned(by: key) else {
                return .broken(ChainBreak(position: since.position, reason: .signatureInvalid))
            }
            if since.position > recordedHead.position {
                return .broken(
                    ChainBreak(position: recordedHead.position + 1, reason: .cutShort(signedThrough: since.position)))
            }
        }
        var signed: [UInt64: Checkpoint] = [:]
        for (position, checkpoint) in intervals {
            guard let checkpoint, checkpoint.isSigned(by: key) else {
                return .broken(ChainBreak(position: position, reason: .signatureInvalid))
            }
            signed[position] = checkpoint
        }
        if let since { signed[since.position] = since }
        var lastGood: UInt64 = 0
        let chain = try walk { position, hash in
            guard let checkpoint = signed[position] else { return nil }
            guard checkpoint.hash == hash else {
                return ChainBreak(position: lastGood + 1, reason: .signedHashMismatch(signedAt: position))
            }
            lastGood = position
            return nil
        }
        guard case .intact(let count, let through, let head) = chain else { return chain.asLogVerification }
        if let beyond = intervals.last?.0, beyond > through {
            return .broken(ChainBreak(position: through + 1, reason: .cutShort(signedThrough: beyond)))
        }
        guard let headCheckpoint else {
            if let lastInterval = intervals.last?.0 {
                return .broken(
                    ChainBreak(position: lastInterval + 1, reason: .unsignedTail(signedThrough: lastInterval)))
            }
            return .unsigned(count: count, through: through, head: head)
        }
        guard headCheckpoint.isSigned(by: key) else {
            return .broken(ChainBreak(position: headCheckpoint.position, reason: .signatureInvalid))
        }
        if headCheckpoint.position > through {
            return .broken(
                ChainBreak(position: through + 1, reason: .cutShort(signedThrough: headCheckpoint.position)))
        }
        if headCheckpoint.position < through {
            return .broken(
                ChainBreak(
                    position: headCheckpoint.position + 1,
                    reason: .unsignedTail(signedThrough: headCheckpoint.position)))
        }
        guard headCheckpoint.hash == head else {
            return .broken(ChainBreak(position: lastGood + 1, reason: .signedHashMismatch(signedAt: through)))
        }
        guard headCheckpoint.recordedAt == recordedHead.recordedAt else {
            return .broken(ChainBreak(position: through, reason: .headTimeMismatch))
        }
        return .signed(count: count, head: headCheckpoint, intervals: intervals.count)
    }
}
