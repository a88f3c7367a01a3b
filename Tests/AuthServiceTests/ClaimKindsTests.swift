import AuthDomain
import AuthService
import DataProtection
import EventLog
import EventLogLMDB
import Foundation
import PasswordHashing
import ServiceTestSupport
import Synchronization
import TestSupport
import Testing

/// Every append that takes or gives up a uniqueness claim records an event whose kind says so
/// (``UserEvent/Kind/changesClaims``): a cluster node's copy reads a stream's claims again
/// only after such an event, so a command that changed claims under another kind would leave
/// the copy's email and Stripe indexes stale.
@Suite(.ownThreads) struct ClaimKindsTests {
    /// The log the service appends to, noting each request it was given.
    final class RecordingLog: EventLog {
        let log: LMDBEventLog
        let requests = Mutex<[AppendRequest]>([])

        init(_ log: LMDBEventLog) { self.log = log }

        func append(_ requests: [AppendRequest]) async throws -> [Result<AppendResult, EventLogError>] {
            self.requests.withLock { $0 += requests }
            return try await log.append(requests)
        }
        func readStream(_ stream: UUID, from version: UInt64) throws -> [RecordedEvent] {
            try log.readStream(stream, from: version)
        }
        func read(from position: UInt64, limit: Int) throws -> [RecordedEvent] {
            try log.read(from: position, limit: limit)
        }
        func headPosition() throws -> UInt64 { try log.headPosition() }
        func currentVersion(of stream: UUID) throws -> UInt64 { try log.currentVersion(of: stream) }
        func verify(from position: UInt64, through: UInt64?) throws -> ChainVerification {
            try log.verify(from: position, through: through)
        }
        func owner(of key: [UInt8], in scope: String) throws -> UUID? { try log.owner(of: key, in: scope) }
    }

    @Test func everyAppendThatChangesClaimsRecordsAKindThatSaysSo() async throws {
        let directory = NSTemporaryDirectory() + "authlog-claim-kinds-" + UUID().uuidString
        let lmdb = try LMDBEventLog(directory: directory)
        let pool = HashingPool(threads: 2)
        defer {
            pool.stop()
            lmdb.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let log = RecordingLog(lmdb)
        let mailer = try MaildirMailer(directory: directory + "/maildir")
        let service = try AuthService(
            log: log, keys: try KeyStore(dataDirectory: directory, environment: [:]),
            configuration: .init(
                passwordPolicy: try PasswordPolicy(minimumLength: 8),
                hashing: PasswordHashing(current: Argon2idHasher(memoryKiB: 256, iterations: 1, parallelism: 1))),
            pool: pool, mailer: mailer)

        // Each command that touches a claim, once, then a random history of the others.
        let password = "a long password"
        let user = try await service.register(
            .init(email: "one@example.com", password: password, firstName: "A", lastName: "B"), correlationID: "t")
        _ = try await service.linkStripeCustomer(of: user.id, customerID: "cus_1", actor: .system, correlationID: "t")
        _ = try await service.unlinkStripeCustomer(of: user.id, actor: .system, correlationID: "t")
        try await service.requestEmailChange(
            userID: user.id, actor: .user(user.id, .target), currentPassword: password, newEmail: "two@example.com",
            correlationID: "t")
        let message = try #require(try mailer.waitingMessages().last { $0.contains("\nTo: two@example.com") })
        let range = try #require(
            message.range(of: "[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}", options: .regularExpression))
        try await service.confirmEmailChange(token: String(message[range]), correlationID: "t")
        #expect(try service.load(user.id).email == "two@example.com")
        _ = try await service.erase(user.id, actor: .system, correlationID: "t")
        // A soft-delete releases an address never verified, and a restore claims it again.
        let unverified = try await service.register(
            .init(email: "three@example.com", password: password, firstName: "A", lastName: "B"), correlationID: "t")
        _ = try await service.softDelete(unverified.id, actor: .system, correlationID: "t")
        _ = try await service.restore(unverified.id, actor: .system, correlationID: "t")
        var users: [UUID] = []
        try await randomHistory(service, users: &users, seed: 7, steps: 200)

        let requests = log.requests.withLock { $0 }
        var changing: Set<String> = []
        for request in requests where !request.claims.isEmpty {
            let kinds = request.events.compactMap { event in
                Array(event.type.utf8).withUnsafeBytes { UserEvent.Kind(typeBytes: $0) }
            }
            #expect(kinds.contains { $0.changesClaims }, "claims changed under \(request.events.map(\.type))")
            changing.formUnion(kinds.filter(\.changesClaims).map { "\($0.name)" })
        }
        // Each claim-changing command was seen, so the check above covered it.
        #expect(
            changing
                == [
                    "UserRegistered", "StripeCustomerLinked", "StripeCustomerUnlinked", "EmailChanged", "UserErased",
                    "UserSoftDeleted", "UserRestored",
                ])
    }
}
