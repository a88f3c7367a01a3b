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
/// and the log session's, the whole file replaced at each save (``SecretFile/replace(_:contents:)``).
///
/// Rules:
/// - A list that cannot be trusted (group or others may read or write it, another user than
///   authd's or root owns it, it is not a regular file or is over 4 MiB) or read (a line is
///   not two ids) is not used: it is moved aside to `console-sessions.unreadable-TIME` for
///   an operator to look at, so the next save does not silently drop what it named, and its
///   sessions end at their own lifetime.
/// - Temporary files a crash left in the middle of a save (`console-sessions.tmp-*`) are
///   removed when the list is loaded.
struct ConsoleHeldSessionsFile: ConsoleHeldSessionStore {
    let directory: String
    let path: String
    /// The most a list may hold: 20,000 lines (the console's signed-in and ended sessions at
    /// their capacities) are under 1.5 MiB.
    static let largest = 4 << 20

    init(dataDirectory: String) {
        directory = dataDirectory
        path = dataDirectory + "/console-sessions"
    }

    /// Why the list was not used.
    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    func load() throws -> [ConsoleLogSession] {
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in leftovers where name.hasPrefix("console-sessions.tmp-") { unlink(directory + "/" + name) }
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return [] }
            throw Unreadable(description: "cannot open \(path): \(Self.lastError())")
        }
        let file = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw Unreadable(description: "cannot stat \(path): \(Self.lastError())")
        }
        if let problem = SecretFile.problem(with: info, at: path, what: "the console's session list") {
            throw movedAside(problem)
        }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_size <= Self.largest else {
            throw movedAside("\(path) is not a regular file of at most \(Self.largest) bytes")
        }
        let text = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        var held: [ConsoleLogSession] = []
        for (number, line) in text.split(separator: "\n").enumerated() {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let user = UUID(uuidString: String(fields[0])),
                let session = UUID(uuidString: String(fields[1]))
            else { throw movedAside("\(path) line \(number + 1) is not a user and a session") }
            held.append(ConsoleLogSession(user: user, logSession: session))
        }
        return held
    }

    /// Moves the list aside (see the rules); the error to throw, saying where it went.
    private func movedAside(_ problem: String) -> Unreadable {
        let aside = path + ".unreadable-" + String(Int(Date().timeIntervalSince1970))
        guard rename(path, aside) == 0 else {
            return Unreadable(description: "\(problem) (not moved aside: \(Self.lastError()))")
        }
        return Unreadable(description: "\(problem); moved aside to \(aside)")
    }

    /// What `errno` says.
    private static func lastError() -> String { String(cString: strerror(errno)) }

    func save(_ held: [ConsoleLogSession]) throws {
        let text = held.map { "\($0.user.uuidString.lowercased()) \($0.logSession.uuidString.lowercased())\n" }
        try SecretFile.replace(path, contents: Array(text.joined().utf8))
    }
}
