import AuthDomain
import AuthHTTP
import DataProtection
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

/// The log sessions the console holds, kept in `console-sessions` in the data directory so
/// that those a crash leaves open are ended at the next start: one line each, the user's id
/// and the log session's, the whole file replaced at each save (0600, synced, renamed).
/// A file others may write, or that belongs to another user, is not read.
struct ConsoleHeldSessionsFile: ConsoleHeldSessionStore {
    let path: String

    init(dataDirectory: String) {
        path = dataDirectory + "/console-sessions"
    }

    /// Why the file cannot be read.
    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    func load() throws -> [ConsoleLogSession] {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return [] }
            throw Unreadable(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        let file = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw Unreadable(description: "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        if let problem = SecretFile.problem(with: info, at: path, what: "the console's session list") {
            throw Unreadable(description: problem)
        }
        let text = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        return try text.split(separator: "\n").enumerated().map { number, line in
            let fields = line.split(separator: " ")
            guard fields.count == 2, let user = UUID(uuidString: String(fields[0])),
                let session = UUID(uuidString: String(fields[1]))
            else { throw Unreadable(description: "\(path) line \(number + 1) is not a user and a session") }
            return ConsoleLogSession(user: user, logSession: session)
        }
    }

    func save(_ held: [ConsoleLogSession]) throws {
        let text = held.map { "\($0.user.uuidString.lowercased()) \($0.logSession.uuidString.lowercased())\n" }
        try SecretFile.replace(path, contents: Array(text.joined().utf8))
    }
}
