import AuthDomain
import AuthService
import DataProtection
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import PasswordHashing
import Synchronization
import TestSupport
import Testing

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let micros = Mutex<Int64>(1_790_000_000_000_000)
    func now() -> Timestamp { Timestamp(microsecondsSince1970: micros.withLock { $0 }) }
    func advance(seconds: Int64) { micros.withLock { $0 += seconds * 1_000_000 } }
}

/// A source of users' states whose first answers go stale: ``recentState(of:)`` answers a
/// user's state as it was at the first look, ever after (`current: false`), as a cluster
/// node's copy that stopped following would. ``state(of:)`` is the fold of the log.
final class FrozenUserStates: UserStateSource, Sendable {
    let folded: FoldedUserStates
    private let frozen = Mutex<[UUID: UserState]>([:])
    private let staleAnswers = Mutex(0)

    init(log: any EventLog, keys: any DataKeyStore) {
        folded = FoldedUserStates(log: log, keys: keys)
    }

    /// How many answers of ``recentState(of:)`` were older than the log.
    var staleCount: Int { staleAnswers.withLock { $0 } }

    func state(of id: UUID) throws -> UserState { try folded.state(of: id) }

    func recentState(of id: UUID) throws -> (state: UserState, current: Bool) {
        let now = try folded.state(of: id)
        let first = frozen.withLock { frozen in
            if frozen[id] == nil { frozen[id] = now }
            return frozen[id]!
        }
        if first.version != now.version { staleAnswers.withLock { $0 += 1 } }
        return (first, false)
    }

    func owner(ofEmail address: EmailAddress) throws -> UUID? { try folded.owner(ofEmail: address) }
}

/// A service on a fresh LMDB log in its own directory, with a Maildir and a manual clock.
/// It remembers every secret a test used and, on `finish()`, checks that none of them was
/// written anywhere in the data directory outside the Maildir (the outbox).
final class Harness: @unchecked Sendable {
    let directory: String
    let log: LMDBEventLog
    let clock = ManualClock()
    let pool = HashingPool(threads: 2)
    let mailer: MaildirMailer
    let keys: KeyStore
    let service: AuthService
    private var secrets: Set<String> = []
    private let lock = NSLock()

    init(
        hasher: any PasswordHasher = Argon2idHasher(memoryKiB: 1_024, iterations: 1, parallelism: 1),
        rules: AuthPolicy = AuthPolicy(), minimumLength: Int = 15,
        states: ((any EventLog, any DataKeyStore) -> any UserStateSource)? = nil
    ) throws {
        directory = NSTemporaryDirectory() + "authlog-service-" + UUID().uuidString
        let clock = self.clock
        // One clock for deciding and for recording, as in the service.
        log = try LMDBEventLog(directory: directory, options: .init(clock: { clock.now() }))
        mailer = try MaildirMailer(directory: directory + "/maildir")
        keys = try KeyStore(dataDirectory: directory, environment: [:])
        // Signed like authd's log, so that authctl writes beside it.
        try log.startSigning(with: try #require(keys.logSigningKey))
        service = try AuthService(
            log: log, keys: keys,
            configuration: .init(
                passwordPolicy: try PasswordPolicy(minimumLength: minimumLength),
                hashing: PasswordHashing(current: hasher),
                rules: rules),
            pool: pool, mailer: mailer, states: states?(log, keys), clock: { clock.now() })
    }

    /// Notes a secret the test used (a password or a token) for the final scan.
    @discardableResult
    func secret(_ value: String) -> String {
        lock.withLock { _ = secrets.insert(value) }
        return value
    }

    func register(_ email: String = "alice@example.com", password: String = "correct horse battery") async throws
        -> UserState
    {
        try await service.register(
            .init(email: email, password: secret(password), firstName: "Alice", lastName: "Liddell"), correlationID: "t"
        )
    }

    func login(_ email: String = "alice@example.com", password: String = "correct horse battery") async throws
        -> AuthService.SessionGrant
    {
        let grant = try await service.login(email: email, password: secret(password), correlationID: "t")
        secret(grant.refreshToken)
        return grant
    }

    /// The token in the newest waiting message whose subject contains `subject`.
    func mailedToken(subject: String) throws -> String {
        let message = try #require(try mailer.waitingMessages().last { $0.contains("Subject: \(subject)") })
        // A token is `reference.secret`: 22 and 43 base64url characters.
        let range = try #require(
            message.range(of: "[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}", options: .regularExpression))
        return secret(String(message[range]))
    }

    func eventTypes(of id: UUID) throws -> [String] {
        try log.readStream(id, from: 1).map(\.type)
    }

    /// Scans every event and every file of the data directory (but the Maildir) for the
    /// secrets noted, then closes the log and removes the directory.
    func finish() throws {
        let events = try log.read(from: 1, limit: .max)
        var files: [(String, [UInt8])] = []
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let path = enumerator?.nextObject() as? String {
            guard !path.hasPrefix("maildir") else { continue }
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory)
            if !isDirectory.boolValue {
                files.append((path, [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + path)))))
            }
        }
        for secret in lock.withLock({ secrets }) {
            var needles = [Array(secret.utf8)]
            if let dot = secret.lastIndex(of: "."), secret.distance(from: dot, to: secret.endIndex) > 20 {
                needles.append(Array(secret[secret.index(after: dot)...].utf8))  // a token's secret part alone
            }
            for needle in needles {
                for event in events {
                    #expect(!contains(event.payload, needle), "a secret is in event \(event.position) (\(event.type))")
                    #expect(!contains(Array((event.metadata.actor + event.metadata.correlationID).utf8), needle))
                }
                for (path, bytes) in files { #expect(!contains(bytes, needle), "a secret is in \(path)") }
            }
        }
        #expect(!files.isEmpty)
        log.close()
        pool.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var index = 0
        while let start = haystack[index...].firstIndex(of: first) {
            if start + needle.count > haystack.count { return false }
            if haystack[start..<start + needle.count].elementsEqual(needle) { return true }
            index = start + 1
        }
        return false
    }
}

/// Runs a built product of the package (beside the test bundle) and collects its output.
func runProduct(
    _ name: String, _ arguments: [String], environment: [String: String] = [:]
) throws -> (status: Int32, stdout: String, stderr: String) {
    let executable =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) && directory.path != "/"
    {
        directory.deleteLastPathComponent()
    }
    let process = Process()
    process.executableURL = directory.appendingPathComponent(name)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        .merging(environment) { $1 }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitForExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}
