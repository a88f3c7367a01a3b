import AuthDomain
import AuthService
import DataProtection
import EventLog
import EventLogLMDB
import EventLogPostgres
import EventSealing
import Foundation
import KeyStorePostgres
import LogMirror
import PasswordHashing
import PostgresTestSupport
import Projections
import ServiceTestSupport
import TestSupport
import Testing

/// A node's source of users' states (the copy's row, brought up to the shared log by the
/// stream's newer events) is a fast path: pinned to the reference fold of each stream over the
/// shared log, with the copy current, behind, and never copied.
@Suite(.ownThreads, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct MirroredUserStatesTests {
    /// The shared log, its keys, a node's copy of it, and a service appending to the shared log.
    final class Node {
        let database: (name: String, url: String)
        let directory = NSTemporaryDirectory() + "authlog-mirror-" + UUID().uuidString
        let shared: PostgresEventLog
        let keys: PostgresKeyStore
        let local: LMDBEventLog
        let projection: UserProjection
        let mirror: LogMirror
        let service: AuthService
        let pool = HashingPool(threads: 2)

        /// `signed`: the shared log signs its heads with its key, and the mirror checks a copy
        /// made again against it. `prepare` is given the copy's directory before it is opened.
        init(
            divergence: LogMirror.Divergence = .stop, signed: Bool = false, prepare: (String) throws -> Void = { _ in }
        ) throws {
            database = try TestPostgres.createDatabase(prefix: "authlog_mirror")
            shared = try PostgresEventLog(url: database.url)
            keys = try PostgresKeyStore(log: shared, kek: try KeyEncryptionKey.generate())
            try prepare(directory)
            local = try LMDBEventLog(directory: directory, options: LogMirror.copyOptions())
            projection = try UserProjection(log: local, keys: keys)
            let logKey = signed ? keys.logSigningKey : nil
            if let logKey { try shared.startSigning(with: logKey) }
            mirror = try LogMirror(
                shared: shared, local: local, projection: projection, keys: keys, divergence: divergence,
                logKey: logKey, firstRetry: .zero)
            service = try AuthService(
                log: shared, keys: keys,
                configuration: .init(
                    passwordPolicy: try PasswordPolicy(minimumLength: 8),
                    hashing: PasswordHashing(current: Argon2idHasher(memoryKiB: 256, iterations: 1, parallelism: 1))),
                pool: pool, mailer: try MaildirMailer(directory: directory + "/maildir"),
                states: FoldedUserStates(log: shared, keys: keys))
        }

        func finish() {
            pool.stop()
            shared.close()
            local.close()
            try? FileManager.default.removeItem(atPath: directory)
            TestPostgres.dropDatabase(database.name)
        }
    }

    func expectSameAnswers(_ node: Node, _ users: [UUID], _ note: String) throws {
        let mirrored = MirroredUserStates(mirror: node.mirror)
        let folded = FoldedUserStates(log: node.shared, keys: node.keys)
        #expect(users.count > 5)
        for id in users + [UUID()] {
            let (mine, theirs) = (try mirrored.state(of: id), try folded.state(of: id))
            #expect(mine == theirs, "\(note): user \(id): \(mine) != \(theirs)")
            let state = try folded.state(of: id)
            if let email = try? EmailAddress(state.email) {
                #expect(try mirrored.owner(ofEmail: email) == folded.owner(ofEmail: email), "\(note): \(id)'s email")
            }
        }
    }

    /// The copy's claims (its email and Stripe indexes, which reads use) are the shared log's
    /// once it has caught up: for every address and customer id `randomHistory` may use with
    /// `prefixes`, taken, moved or given up.
    func expectSameClaims(_ node: Node, prefixes: [String], steps: Int, _ note: String) throws {
        var claims: [(scope: String, key: [UInt8], name: String)] = (0..<40).map {
            (LinkStripeCustomer.claimScope, LinkStripeCustomer.claimKey("cus_\($0)"), "cus_\($0)")
        }
        for prefix in prefixes {
            for step in 0..<steps {
                let address = try EmailAddress("user\(prefix)\(step)@example.com")
                claims.append((EmailAddress.claimScope, address.claimKey, address.display))
            }
        }
        var held = 0
        for claim in claims {
            let shared = try node.shared.owner(of: claim.key, in: claim.scope)
            #expect(try node.local.owner(of: claim.key, in: claim.scope) == shared, "\(note): \(claim.name)")
            if shared != nil { held += 1 }
        }
        #expect(held > 5, "\(note): too few claims to compare")
    }

    @Test func aNodesAnswerIsTheFoldOfTheSharedLogWhateverItsCopyHolds() async throws {
        let node = try Node()
        defer { node.finish() }
        var users: [UUID] = []
        try await randomHistory(node.service, users: &users, seed: 31, steps: 80, emailPrefix: "a")
        try expectSameAnswers(node, users, "never copied")
        try node.mirror.catchUp()
        try expectSameAnswers(node, users, "copy current")
        try expectSameClaims(node, prefixes: ["a"], steps: 80, "copy current")
        let copied = node.mirror.position
        try await randomHistory(node.service, users: &users, seed: 32, steps: 80, emailPrefix: "b")
        #expect(try node.shared.headPosition() > copied)
        #expect(node.mirror.position == copied, "the copy should lag the shared log")
        try expectSameAnswers(node, users, "copy behind")
        try node.mirror.catchUp()
        try expectSameAnswers(node, users, "copy caught up")
        try expectSameClaims(node, prefixes: ["a", "b"], steps: 80, "copy caught up")
    }
}
