import AuthDomain
import AuthHTTP
import EventLog
import EventLogLMDB
import EventLogPostgres
import Foundation
import Logging
import Projections
import Signatures

/// The console's log page over authd's storage: the log commands append to (the embedded log,
/// or a cluster's shared log), checked with the log's signing key, and the node's users
/// projection.
struct StorageLogSource: ConsoleLogSource {
    let log: any EventLog
    let location: String
    let key: Ed25519Key?
    let headCheckpoint: @Sendable () throws -> Checkpoint?
    let verifySignatures: @Sendable (Ed25519Key) throws -> LogVerification
    let projection: UserProjection

    init(embedded log: LMDBEventLog, key: Ed25519Key?, projection: UserProjection) {
        self.log = log
        self.location = "embedded (\(log.directory))"
        self.key = key
        self.headCheckpoint = { try log.headCheckpoint() }
        self.verifySignatures = { try log.verifySignatures(key: $0) }
        self.projection = projection
    }

    init(shared log: PostgresEventLog, key: Ed25519Key?, projection: UserProjection) {
        self.log = log
        self.location = "shared: \(log.location)"
        self.key = key
        self.headCheckpoint = { try log.headCheckpoint() }
        self.verifySignatures = { try log.verifySignatures(key: $0) }
        self.projection = projection
    }

    func status() throws -> ConsoleLogStatus {
        let head = try log.headPosition()
        var hash = ChainHash.genesis
        if head > 0, let last = try log.read(from: head, limit: 1).first { hash = last.hash }
        let catalog = try projection.status()
        return ConsoleLogStatus(
            headPosition: head, headHash: hash, signedHead: try headCheckpoint(),
            publicKey: key.map { Hex.encode($0.publicKey) }, projectionGeneration: catalog?.generation,
            projectionCheckpoint: catalog?.checkpoint ?? 0, location: location)
    }

    /// The chain and the signed checkpoints under the log's key; the chain alone without one.
    func verify() throws -> LogVerification {
        guard let key else { return try log.verify(from: 1, through: nil).asLogVerification }
        return try verifySignatures(key)
    }
}

extension Authd {
    /// Builds the console's search index on a thread of its own and logs how long it took;
    /// a failure is logged and left to the first search, which tries again.
    static func buildInBackground(_ directory: UserDirectoryIndex, logger: Logger) {
        let thread = Thread {
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                let users = try directory.build()
                let milliseconds = (DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
                logger.info("console search index built", metadata: ["users": "\(users)", "ms": "\(milliseconds)"])
            } catch {
                logger.error(
                    "console search index not built; the first search will try again",
                    metadata: ["error": "\(error)"])
            }
        }
        thread.name = "console-index"
        thread.start()
    }
}
