import ArgumentParser
import AuthDomain
import AuthService
import DataProtection
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import PasswordHashing
import Projections

/// The log, the key store and the projections, opened read-only: safe beside a running authd.
/// With `--log-url`, the projections of a copy of the shared log (see ``SharedCopy``).
struct ReadStack {
    let log: LMDBEventLog
    let keys: any DataKeyStore
    let projection: UserProjection
    /// The copy of the shared log read, with `--log-url`.
    let copy: SharedCopy?
    var queries: UserQueries { UserQueries(projection) }

    /// `needsKeys: false` opens without the key-encryption key if it is missing (personal
    /// fields then read back empty): for commands that show none.
    init(root: Authctl, needsKeys: Bool = true) throws {
        if let url = root.logURL {
            self.init(copy: try SharedCopy(root: root, url: url, needsKeys: needsKeys))
        } else {
            try self.init(directory: root.data, needsKeys: needsKeys)
        }
    }

    private init(copy: SharedCopy) {
        log = copy.local
        keys = copy.keys
        projection = copy.projection
        self.copy = copy
    }

    init(directory: String, needsKeys: Bool = true) throws {
        copy = nil
        try checkDataDirectory(directory, readOnly: true)
        log = try failing { try LMDBEventLog(directory: directory, options: .init(readOnly: true)) }
        do {
            do {
                keys = try KeyStore(dataDirectory: directory, readOnly: true)
            } catch let error as DataProtectionError where !needsKeys {
                if case .missingKey = error { keys = KeyStore.locked() } else { throw error }
            }
            projection = try UserProjection(log: log, keys: keys)
        } catch {
            log.close()
            printError("authctl: \(error)")
            throw ExitCode(2)
        }
    }

    /// A user named by id or email, or a one-line error and exit 2.
    func resolve(_ user: String) throws -> UUID {
        if let id = UUID(uuidString: user) { return id }
        if let id = try failing({ try queries.user(email: user)?.id }) { return id }
        printError("authctl: no user \(user)")
        throw ExitCode(2)
    }

    func close() {
        if let copy { copy.close() } else { log.close() }
    }
}

/// The log with its projections and the command service, opened for writing. With
/// `--log-url`, the shared log, folding the users it changes from their streams there (no
/// projection: a command that needs one reads a ``SharedCopy``).
struct WriteStack {
    let log: any EventLog
    let keys: any DataKeyStore
    /// The embedded log's projection; `nil` on the shared log.
    let projection: UserProjection?
    let pool: HashingPool
    let service: AuthService
    private let closeLog: () -> Void

    init(root: Authctl) throws {
        if let url = root.logURL {
            try self.init(root: root, url: url)
        } else {
            try self.init(directory: root.data)
        }
    }

    private init(root: Authctl, url: String) throws {
        let keys = try openSharedKeys(root)
        guard let signingKey = keys.logSigningKey else {
            printError("authctl: no key-encryption key: writing to the log needs it to sign")
            throw ExitCode(2)
        }
        // Its mail goes to DATA/maildir: DATA is made 0700 first, not as that folder's parent.
        try failing { try SecretFile.makeDirectory(root.data) }
        let shared = try openSharedLog(url)
        let pool = HashingPool(threads: 1)
        do {
            try shared.startSigning(with: signingKey)
            service = try AuthService(
                log: shared, keys: keys, configuration: .init(passwordPolicy: try PasswordPolicy()), pool: pool,
                mailer: try MaildirMailer(directory: root.data + "/maildir"),
                states: FoldedUserStates(log: shared, keys: keys))
        } catch {
            shared.close()
            pool.stop()
            printError("authctl: \(error)")
            throw ExitCode(2)
        }
        log = shared
        self.keys = keys
        projection = nil
        self.pool = pool
        closeLog = { shared.close() }
    }

    init(directory: String) throws {
        try checkDataDirectory(directory, readOnly: false)
        let log = try failing { try LMDBEventLog(directory: directory) }
        pool = HashingPool(threads: 1)
        do {
            let keys = try KeyStore(dataDirectory: directory)
            reportRepairs(keys)
            guard let signingKey = keys.logSigningKey else { throw EventLogError.readOnly }
            try log.startSigning(with: signingKey)
            let projection = try UserProjection(log: log, keys: keys)
            service = try AuthService(
                log: log, keys: keys, configuration: .init(passwordPolicy: try PasswordPolicy()), pool: pool,
                mailer: try MaildirMailer(directory: directory + "/maildir"), states: ProjectedUserStates(projection))
            self.log = log
            self.keys = keys
            self.projection = projection
            closeLog = { log.close() }
        } catch {
            log.close()
            pool.stop()
            printError("authctl: \(error)")
            throw ExitCode(2)
        }
    }

    func close() {
        closeLog()
        pool.stop()
    }
}

/// Says on stderr which duplicate key slots opening the key store for writing removed (see
/// ``KeyStore``'s rules): an operator learns that an earlier import was interrupted.
func reportRepairs(_ keys: KeyStore) {
    guard !keys.repairedDuplicates.isEmpty else { return }
    printError(
        "authctl: \(keys.path) held extra copies of the data keys of \(keys.repairedDuplicates.count) users "
            + "(left by an interrupted import); removed them")
}

/// A user as authctl shows it: the seed's snake_case fields, never a hash of a secret.
func userFields(_ user: UserState) -> [(String, Any)] {
    func time(_ value: Timestamp?) -> Any { value.map(\.description) ?? NSNull() }
    return [
        ("id", user.id.uuidString.lowercased()), ("email", user.email), ("first_name", user.firstName),
        ("last_name", user.lastName), ("phone", user.phone ?? NSNull()), ("role", user.role.rawValue),
        ("email_verified_at", time(user.emailVerifiedAt)),
        ("password_reset_expires", time(user.passwordReset?.expiresAt)),
        ("last_login_at", time(user.lastLoginAt)), ("stripe_customer_id", user.stripeCustomerID ?? NSNull()),
        ("created_at", user.createdAt.description), ("updated_at", user.updatedAt.description),
        ("deleted_at", time(user.deletedAt)), ("failed_logins", Int(user.failedLogins)),
        ("locked_until", time(user.lockedUntil)), ("stream_version", Int(user.version)), ("erased", user.isErased),
    ]
}

/// One JSON object on one line with sorted keys, from ordered pairs.
func jsonLine(_ fields: [(String, Any)]) throws -> String {
    let object = Dictionary(fields, uniquingKeysWith: { $1 })
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}

/// Aligned `field  value` lines.
func printFields(_ fields: [(String, Any)]) {
    let width = fields.map(\.0.count).max() ?? 0
    for (name, value) in fields {
        let text = value is NSNull ? "-" : "\(value)"
        print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + text)
    }
}
