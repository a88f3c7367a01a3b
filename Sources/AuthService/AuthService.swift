import AuthDomain
import DataProtection
import EventLog
import EventSealing
import Foundation
import PasswordHashing

/// The imperative shell around the user commands: loads a user's stream, lets the pure
/// `decide` choose events, appends them with the version it decided from (retrying on
/// conflict), hashes passwords in the pool, generates tokens, and mails them.
///
/// Everything it touches is injected: the log, the source of users' current states, the
/// clock, the randomness, the mailer. It knows the log only through the `EventLog` protocol
/// and users' states only through ``UserStateSource``: no storage module is below it.
public final class AuthService: Sendable {
    public struct Configuration: Sendable {
        public var passwordPolicy: PasswordPolicy
        public var hashing: PasswordHashing
        public var rules: AuthPolicy
        /// Times a command is decided again after a version conflict before giving up. A retry
        /// re-reads and re-decides but does not hash again, so it is cheap; many concurrent
        /// commands on one user each need up to one round per competitor.
        public var maximumAttempts: Int
        /// The subjects and bodies of the mail (``MailTemplates``).
        public var templates = MailTemplates.builtIn
        /// The base of the links in the mail (`--public-url`).
        public var publicURL = PublicURL(host: "127.0.0.1", port: 8080)

        public init(
            passwordPolicy: PasswordPolicy, hashing: PasswordHashing = PasswordHashing(),
            rules: AuthPolicy = AuthPolicy(),
            maximumAttempts: Int = 32
        ) {
            self.passwordPolicy = passwordPolicy
            self.hashing = hashing
            self.rules = rules
            self.maximumAttempts = maximumAttempts
        }
    }

    public let log: any EventLog
    /// Each user's data key: personal fields in event payloads are sealed with it.
    public let keys: any DataKeyStore
    let sealing: UserEventSealing
    /// Where users' current states are read before deciding: the projection when the caller
    /// keeps one beside the log, the fold of the user's stream otherwise.
    public let states: any UserStateSource
    public let configuration: Configuration
    let pool: HashingPool
    let mailer: any Mailer
    let clock: @Sendable () -> Timestamp
    let random: @Sendable (Int) -> [UInt8]
    /// A hash of a random password at the current parameters: unknown users are checked
    /// against it, so they cost the same time as known ones.
    let dummyHash: String

    public init(
        log: any EventLog, keys: any DataKeyStore, configuration: Configuration, pool: HashingPool, mailer: any Mailer,
        states: (any UserStateSource)? = nil, clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() },
        random: @escaping @Sendable (Int) -> [UInt8] = { count in (try? SecureBytes.random(count)) ?? [] }
    ) throws {
        self.log = log
        self.keys = keys
        self.sealing = UserEventSealing(keys: keys)
        self.states = states ?? FoldedUserStates(log: log, keys: keys)
        self.configuration = configuration
        self.pool = pool
        self.mailer = mailer
        self.clock = clock
        self.random = random
        let dummyPassword = random(32)
        guard dummyPassword.count == 32 else { throw PasswordHashError.failed("no random bytes available") }
        self.dummyHash = try configuration.hashing.hash(Base64URL.encode(dummyPassword))
    }

    /// 32 random bytes for a token secret; refuses to go on without a working CSPRNG.
    func secret() throws -> [UInt8] {
        let bytes = random(32)
        guard bytes.count == 32 else { throw PasswordHashError.failed("no random bytes available") }
        return bytes
    }
}
