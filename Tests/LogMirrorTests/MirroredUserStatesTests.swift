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
import Testing

/// A node's source of users' states (the copy's row, brought up to the shared log by the
/// stream's newer events) is a fast path: pinned to the reference fold of each stream over the
/// shared log, with the copy current, behind, and never copied.
@Suite(.enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
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

        init() throws {
            database = try TestPostgres.createDatabase(prefix: "authlog_mirror")
            shared = try PostgresEventLog(url: database.url)
            keys = try PostgresKeyStore(log: shared, kek: try KeyEncryptionKey.generate())
            local = try LMDBEventLog(directory: directory)
            projection = try UserProjection(log: local, keys: keys)
            mirror = try LogMirror(shared: shared, local: local, projection: projection, keys: keys)
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

    /// Commands of every kind on random users, some refused, appended to the shared log.
    func randomHistory(_ node: Node, users: inout [UUID], seed: UInt64, steps: Int) async throws {
        var random = SplitMix64(seed: seed)
        for step in 0..<steps {
            let choice = users.isEmpty ? 0 : Int(random.next() % 9)
            let target = users.isEmpty ? UUID() : users[Int(random.next() % UInt64(users.count))]
            do {
                switch choice {
                case 0:
                    let user = try await node.service.register(
                        .init(
                            email: "user\(seed)-\(step)@example.com", password: "password-\(step)-long",
                            firstName: "F\(step)", lastName: "L\(step)"),
                        correlationID: "m")
                    users.append(user.id)
                case 1:
                    let email = try node.service.load(target).email
                    _ = try await node.service.login(email: email, password: "wrong password", correlationID: "m")
                case 2:
                    try await node.service.changeRole(
                        of: target, to: Role.allCases[Int(random.next() % 4)], actor: .system, correlationID: "m")
                case 3:
                    try await node.service.updateProfile(
                        of: target, firstName: "N\(random.next() % 50)", lastName: nil,
                        phone: random.next() % 2 == 0 ? "+1 555 \(step)" : "", actor: .system, correlationID: "m")
                case 4: try await node.service.softDelete(target, actor: .system, correlationID: "m")
                case 5: try await node.service.restore(target, actor: .system, correlationID: "m")
                case 6:
                    try await node.service.linkStripeCustomer(
                        of: target, customerID: "cus_\(random.next() % 40)", actor: .system, correlationID: "m")
                case 7:
                    let email = try node.service.load(target).email
                    try await node.service.requestPasswordReset(email: email, correlationID: "m")
                default:
                    if random.next() % 4 == 0 {
                        try await node.service.erase(target, actor: .system, correlationID: "m")
                    }
                }
            } catch is Rejection {
                continue  // refused commands are part of a random history
            }
        }
    }

    func expectSameAnswers(_ node: Node, _ users: [UUID], _ note: String) throws {
        let mirrored = MirroredUserStates(mirror: node.mirror)
        let folded = FoldedUserStates(log: node.shared, keys: node.keys)
        #expect(users.count > 5)
        for id in users + [UUID()] {
            #expect(try mirrored.state(of: id) == folded.state(of: id), "\(note): user \(id)")
            let state = try folded.state(of: id)
            if let email = try? EmailAddress(state.email) {
                #expect(try mirrored.owner(ofEmail: email) == folded.owner(ofEmail: email), "\(note): \(id)'s email")
            }
        }
    }

    @Test func aNodesAnswerIsTheFoldOfTheSharedLogWhateverItsCopyHolds() async throws {
        let node = try Node()
        defer { node.finish() }
        var users: [UUID] = []
        try await randomHistory(node, users: &users, seed: 31, steps: 80)
        try expectSameAnswers(node, users, "never copied")
        try node.mirror.catchUp()
        try expectSameAnswers(node, users, "copy current")
        let copied = node.mirror.position
        try await randomHistory(node, users: &users, seed: 32, steps: 80)
        #expect(try node.shared.headPosition() > copied)
        #expect(node.mirror.position == copied, "the copy should lag the shared log")
        try expectSameAnswers(node, users, "copy behind")
        try node.mirror.catchUp()
        try expectSameAnswers(node, users, "copy caught up")
    }
}
