import AccessTokens
import AuthDomain
import AuthHTTP
import DataProtection
import EventLog
import EventLogLMDB
import EventLogPostgres
import EventSealing
import Foundation
import KeyStorePostgres
import LogMirror
import Logging
import Projections
import Signatures

/// What authd stores and reads through, composed for one of two set-ups:
/// - embedded (no `--log-url`): the log, the projections and the key store in the data
///   directory; commands read users from the projection, folded in the append's transaction;
/// - a cluster node (`--log-url`): commands append to the shared log on PostgreSQL; the data
///   directory holds the node's copy of the log with its projection (``LogMirror``), which
///   serves reads, and commands read a user from the copy's row and the stream's newer events
///   in the shared log (``MirroredUserStates``).
struct Storage {
    /// Where commands append.
    let log: any EventLog
    let keys: any DataKeyStore
    /// The node's LMDB log: the embedded log itself, or the copy of the shared one.
    let local: LMDBEventLog
    let projection: UserProjection
    let states: any UserStateSource
    let progress: any ReadModelProgress
    let gauges: @Sendable () -> ServerGauges
    let mirror: LogMirror?
    /// The keys that sign access tokens: `DATA/signing-keys`, or the shared database's.
    let tokenKeys: SigningKeys
    /// Seals the secrets of the data directory's files (the webhook endpoints').
    let fileSealing: FileSealingKey
    /// The admin console's view of the log (its head, signed head, verification).
    let consoleLog: any ConsoleLogSource
    let close: @Sendable () -> Void

    static func embedded(
        data: String, initialMapMib: Int, tokenAlgorithm: TokenAlgorithm, logger: Logger
    ) throws -> Storage {
        let log = try LMDBEventLog(directory: data, options: .init(initialMapSize: initialMapMib << 20))
        do {
            let keys = try KeyStore(dataDirectory: data)
            reportRepairs(keys, logger: logger)
            // Every commit signs the log's head; a log whose signed head does not match is refused.
            if let signingKey = keys.logSigningKey {
                try log.startSigning(with: signingKey)
                logSigning(signingKey.publicKey, logger: logger)
            }
            let projection = try UserProjection(log: log, keys: keys, progress: rebuildProgress(logger))
            guard let sealing = keys.fileSealingKey else { throw EventLogError.readOnly }
            let tokenKeys = try embeddedTokenKeys(
                data: data, sealing: sealing, algorithm: tokenAlgorithm, logger: logger)
            return Storage(
                log: log, keys: keys, local: log, projection: projection, states: ProjectedUserStates(projection),
                progress: ProjectionProgress(projection),
                gauges: {
                    let commits = log.groupCommitStatistics
                    var gauges = ServerGauges()
                    gauges.appends = commits.jobs
                    gauges.appendedEvents = commits.weight
                    gauges.commits = commits.batches
                    gauges.batchSizeBounds = GroupCommitStatistics.batchSizeBounds
                    gauges.commitsByBatchSize = commits.batchesBySize
                    return gauges
                }, mirror: nil, tokenKeys: tokenKeys, fileSealing: sealing,
                consoleLog: StorageLogSource(embedded: log, key: keys.logSigningKey, projection: projection),
                close: { log.close() })
        } catch {
            log.close()
            throw error
        }
    }

    /// A node on the shared log at `logURL`. A copy in `data` that the shared log does not
    /// continue (the log was replaced, or restored from an older backup), at start or later,
    /// is written aside into `data/diverged-TIME/` and made again from the shared log
    /// (``LogMirror/Divergence/copyAgain``); one whose files cannot be read as a log is moved
    /// there at start. The copy holds nothing the shared log does not.
    static func clusterNode(
        data: String, logURL: String, kek: KeyEncryptionKey, initialMapMib: Int, tokenAlgorithm: TokenAlgorithm,
        logger: Logger
    ) throws -> Storage {
        do {
            return try openClusterNode(
                data: data, logURL: logURL, kek: kek, initialMapMib: initialMapMib, tokenAlgorithm: tokenAlgorithm,
                logger: logger)
        } catch let failure where LogMirror.isUnusableCopy(failure) {
            let aside = try LogMirror.moveCopyAside(in: data)
            logger.error(
                "moved this node's copy of the log aside; copying the shared log again",
                metadata: ["reason": "\(failure)", "moved_to": "\(aside)"])
            return try openClusterNode(
                data: data, logURL: logURL, kek: kek, initialMapMib: initialMapMib, tokenAlgorithm: tokenAlgorithm,
                logger: logger)
        }
    }

    static func openClusterNode(
        data: String, logURL: String, kek: KeyEncryptionKey, initialMapMib: Int, tokenAlgorithm: TokenAlgorithm,
        logger: Logger
    ) throws -> Storage {
        let shared = try PostgresEventLog(url: logURL)
        let local: LMDBEventLog
        do {
            local = try LMDBEventLog(
                directory: data, options: LogMirror.copyOptions(initialMapSize: initialMapMib << 20))
        } catch {
            shared.close()
            throw error
        }
        do {
            let keys = try PostgresKeyStore(log: shared, kek: kek)
            let tokenKeys = try SigningKeys(
                keys: try keys.accessTokenSigningKeys(algorithm: tokenAlgorithm), algorithm: tokenAlgorithm,
                reload: { try keys.accessTokenSigningKeys(algorithm: tokenAlgorithm) })
            guard let signingKey = keys.logSigningKey, let sealing = keys.fileSealingKey else {
                throw EventLogError.readOnly
            }
            try shared.startSigning(with: signingKey)
            logSigning(signingKey.publicKey, logger: logger)
            let projection = try UserProjection(log: local, keys: keys, progress: rebuildProgress(logger))
            let mirror = try LogMirror(
                shared: shared, local: local, projection: projection, keys: keys, divergence: .copyAgain,
                logKey: signingKey, logger: logger)
            let reached = try mirror.catchUp()
            logger.info(
                "following the shared log", metadata: ["log": "\(shared.location)", "position": "\(reached)"])
            return Storage(
                log: shared, keys: keys, local: local, projection: projection,
                states: MirroredUserStates(mirror: mirror), progress: MirrorProgress(mirror),
                gauges: {
                    let commits = shared.groupCommitStatistics
                    var gauges = ServerGauges()
                    gauges.appends = commits.appends
                    gauges.appendedEvents = commits.events
                    gauges.commits = commits.batches
                    gauges.copyReads = mirror.timesReadShared
                    gauges.copiesMadeAgain = mirror.timesCopiedAgain
                    return gauges
                }, mirror: mirror, tokenKeys: tokenKeys, fileSealing: sealing,
                consoleLog: StorageLogSource(shared: shared, key: signingKey, projection: projection),
                close: {
                    shared.close()
                    local.close()
                })
        } catch {
            shared.close()
            local.close()
            throw error
        }
    }

    /// The access-token signing keys of `DATA/signing-keys`, sealed under `sealing`; keys a
    /// file from before sealed keys holds in the clear are sealed first, and the log says so.
    static func embeddedTokenKeys(
        data: String, sealing: FileSealingKey, algorithm: TokenAlgorithm, logger: Logger
    ) throws -> SigningKeys {
        let file = data + "/signing-keys"
        let sealed = try SigningKeys.sealKeysInTheClear(in: file, sealing: sealing)
        if sealed.sealed > 0 {
            logger.notice(
                "sealed the access-token signing keys written in the clear before this release",
                metadata: ["file": "\(file)", "keys": "\(sealed.sealed)"])
        }
        if let reason = sealed.oldBytesNotOverwritten {
            logger.warning(
                "the old signing-keys file's bytes were not overwritten with zeros; its keys may stay on the disk until its blocks are reused",
                metadata: ["file": "\(file)", "reason": "\(reason)"])
        }
        return try SigningKeys(file: file, algorithm: algorithm, sealing: sealing)
    }

    static func reportRepairs(_ keys: KeyStore, logger: Logger) {
        if !keys.repairedDuplicates.isEmpty {
            logger.warning(
                "removed extra copies of data keys (left by an interrupted import)",
                metadata: ["users": "\(keys.repairedDuplicates.count)"])
        }
    }

    static func logSigning(_ publicKey: [UInt8], logger: Logger) {
        logger.info(
            "signing the log's checkpoints", metadata: ["public_key": "\(Hex.encode(publicKey))"])
    }

    static func rebuildProgress(_ logger: Logger) -> @Sendable (RebuildProgress) -> Void {
        { progress in
            logger.info(
                "rebuilding projections",
                metadata: ["position": "\(progress.position)", "target": "\(progress.target)"])
        }
    }
}
