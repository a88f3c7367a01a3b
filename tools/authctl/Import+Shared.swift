import ArgumentParser
import AuthDomain
import AuthService
import DataProtection
import EventLog
import EventLogLMDB
import EventLogPostgres
import Foundation
import KeyStorePostgres
import Projections
import Signatures

/// `import --log-url`: an export restored into an empty shared log.
///
/// Rules:
/// - The shared log must hold no event and the key store (``openSharedKeys(_:readOnly:mayGenerateKey:)``)
///   no data key; otherwise it is refused in one line and nothing is written.
/// - The export is checked whole first, exactly as an import into a data directory checks it
///   (every line, the chain, the payloads, the signatures), by importing it into a temporary
///   staging directory (0700, removed at the end): a refused export writes nothing to the
///   database. Only then are the log's tables and the key store made in a database that has
///   none (and the log's emptiness checked again, in case another import came first).
/// - Then, in one transaction of the shared database (``PostgresEventLog/restoring(_:)``), the
///   data keys go into the key store (the log's signing key first, when the export carries it),
///   the events with their checkpoints, as stored, in batches of ``batchEvents``, and the
///   uniqueness claims of the live users (email, Stripe id), derived from the users the staging
///   folded. A failure part-way (the database refusing, or going away) writes nothing: the
///   import can be run again as it is.
/// - The shared log is then verified.
extension Import {
    static let batchEvents = 10_000

    func importShared(_ url: String, from input: FileHandle) throws {
        // A log already there must be empty; a database without one is left as it is until
        // the export has checked out.
        let location = try failing {
            do {
                let existing = try PostgresEventLog(url: url, options: .init(createIfMissing: false))
                defer { existing.close() }
                try refuseUnlessEmpty(existing)
                return existing.location
            } catch EventLogError.noLog(let location) {
                return location
            }
        }
        let (kek, kekSource) = try failing {
            try KeyEncryptionKey.load(
                dataDirectory: root.data, environment: ProcessInfo.processInfo.environment, mayGenerate: false)
        }
        let staging = try failing { try makeTemporaryDirectory() }
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let summary: Summary
        do {
            summary = try restore(from: input, into: staging, kek: kek, kekSource: kekSource)
        } catch {
            if error is ExitCode { throw error }
            printError("authctl: \(location): nothing was imported: \(error)")
            throw ExitCode(2)
        }
        let shared = try openSharedLog(url, makingLog: true)
        defer { shared.close() }
        try refuseUnlessEmpty(shared)
        let keys = try openPostgresKeys(root, url: url, makingLog: true)
        let held = try failing { try keys.users().count }
        guard held == 0 else {
            printError("authctl: the shared key store already holds \(held) data keys; import needs an empty one")
            throw ExitCode(2)
        }
        do {
            try copyStaged(staging, kek: kek, kekSource: kekSource, into: shared, keys: keys)
        } catch {
            // A failure at COMMIT (the connection lost) leaves its outcome unknown: the head says.
            switch try? shared.headPosition() {
            case 0: printError("authctl: \(shared.location): nothing was imported: \(error)")
            case nil:
                printError(
                    "authctl: \(shared.location): the import's outcome is unknown (\(error)); `authctl --log-url URL head` tells"
                )
            case let head?:
                printError("authctl: \(shared.location): the import committed \(head) events, then failed: \(error)")
            }
            throw ExitCode(2)
        }
        guard case .intact(let count, _, let head) = try failing({ try shared.verify() }) else {
            printError("authctl: the imported shared log does not verify")
            throw ExitCode(1)
        }
        print(
            "imported \(count) events and \(summary.dataKeys) data keys into \(shared.location); chain verified, "
                + "head hash \(head), \(summary.proof); \(summary.users) users' claims restored")
    }

    /// A one-line error and exit 2 unless `shared` holds no event.
    private func refuseUnlessEmpty(_ shared: PostgresEventLog) throws {
        let existing = try failing { try shared.headPosition() }
        guard existing == 0 else {
            printError(
                "authctl: \(shared.location) already holds \(existing) events; import --log-url needs an empty shared log"
            )
            throw ExitCode(2)
        }
    }

    /// Copies the checked staging's keys, events, checkpoints and claims into the shared log,
    /// in one transaction.
    func copyStaged(
        _ staging: String, kek: KeyEncryptionKey, kekSource: String, into shared: PostgresEventLog,
        keys: PostgresKeyStore
    ) throws {
        let staged = try KeyStore(file: staging + "/keys", kek: kek, keySource: kekSource, readOnly: true)
        var slots: [[UInt8]] = []
        for user in try staged.users().sorted(by: uuidOrder) {
            if let slot = try staged.storedSlot(for: user) { slots.append(slot) }
        }
        let log = try LMDBEventLog(directory: staging)
        defer { log.close() }
        let claims = try liveClaims(UserQueries(try UserProjection(log: log, keys: staged)))
        let (head, headCheckpoint) = try log.signedHead()
        var intervals = try log.intervalCheckpoints(from: 1, through: head)
        try shared.restoring { restore in
            if let slot = staged.storedLogSigningSlot { try keys.adoptLogSigningSlot(slot, in: restore) }
            try keys.importSlots(slots, in: restore)
            var batch: [[UInt8]] = []
            func flush(through last: UInt64) throws {
                guard !batch.isEmpty else { return }
                var checkpoints: [Checkpoint] = []
                while let next = intervals.first, next.position <= last { checkpoints.append(intervals.removeFirst()) }
                if last == head, let headCheckpoint { checkpoints.append(headCheckpoint) }
                try restore.importStored(batch, checkpoints: checkpoints)
                batch.removeAll(keepingCapacity: true)
            }
            try log.forEachStoredEnvelope(from: 1, through: head) { position, stored in
                batch.append(Array(stored))
                if batch.count == Self.batchEvents { try flush(through: position) }
            }
            try flush(through: head)
            try restore.restoreClaims(claims)
        }
    }

    /// The email claims of every user who holds one (``UserState/holdsEmailClaim``) and the
    /// Stripe id claims of every user who is not erased.
    func liveClaims(_ queries: UserQueries) throws -> [(stream: UUID, claim: UniqueClaim)] {
        var claims: [(stream: UUID, claim: UniqueClaim)] = []
        for user in try allUsers(queries) where !user.isErased {
            if user.holdsEmailClaim, let email = try? EmailAddress(user.email) {
                claims.append((user.id, UniqueClaim(.claim, scope: EmailAddress.claimScope, key: email.claimKey)))
            }
            if let customer = user.stripeCustomerID {
                claims.append(
                    (
                        user.id,
                        UniqueClaim(
                            .claim, scope: LinkStripeCustomer.claimScope, key: LinkStripeCustomer.claimKey(customer))
                    ))
            }
        }
        return claims
    }
}

/// Every user the projection holds, soft-deleted ones too.
func allUsers(_ queries: UserQueries) throws -> [UserState] {
    var users: [UserState] = []
    for role in Role.allCases {
        var cursor: String?
        repeat {
            let page = try queries.users(role: role, includeDeleted: true, limit: 1_000, after: cursor)
            users += page.users
            cursor = page.nextCursor
        } while cursor != nil
    }
    return users
}
