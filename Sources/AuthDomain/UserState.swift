import EventLog
import Foundation

/// One user as the fold of its stream: the seed's fields plus what the rules need.
public struct UserState: Hashable, Sendable {
    public var id: UUID
    /// The stream version folded so far; 0 before registration.
    public var version: UInt64 = 0
    public var email = ""
    public var passwordHash = ""
    public var firstName = ""
    public var lastName = ""
    public var phone: String?
    public var role = Role.target
    public var emailVerifiedAt: Timestamp?
    public var emailVerification: PendingToken?
    /// An email change waiting for its confirmation (the new address is a personal field).
    public var emailChange: PendingEmailChange?
    /// The seed's password_reset_token (hashed) and password_reset_expires.
    public var passwordReset: PendingToken?
    /// When the latest password-reset requests were recorded (`PasswordResetRequested`),
    /// oldest first, at most ``requestTimesKept``, since the address last changed: what
    /// limits the reset mails of the account (``AuthPolicy/resetMailsPerHour``), whichever
    /// process is asked.
    public var resetRequestTimes: [Timestamp] = []
    /// The same for verification mails asked for (`EmailVerificationRequested`, but for the
    /// registration's own): what limits them (``AuthPolicy/verificationMailsPerHour``).
    public var verificationRequestTimes: [Timestamp] = []
    /// When the latest notices due were called for (`PasswordChanged`,
    /// `PasswordResetCompleted`, `RefreshTokenReuseDetected`, and `EmailChangeRequested`, whose
    /// notice goes to the address it would leave), oldest first, since the address
    /// last changed: such an event is noted here, and its notice mailed, only when fewer than
    /// ``noticesMailedPerHour`` were noted in the hour before it (``noteNotice(at:)``). A notice
    /// that could not be queued, or that an older release's node left unmailed, counts too.
    public var noticeTimes: [Timestamp] = []
    public var lastLoginAt: Timestamp?
    /// The one session (the seed's single refresh_token_hash), if signed in.
    public var session: Session?
    public var stripeCustomerID: String?
    public var createdAt = Timestamp(microsecondsSince1970: 0)
    public var updatedAt = Timestamp(microsecondsSince1970: 0)
    public var deletedAt: Timestamp?
    /// Wrong passwords since the last login or reset (audit only: nothing is locked by it).
    public var failedLogins: UInt32 = 0
    /// A lock that `LoginFailed` recorded in releases that locked accounts; kept as history,
    /// no longer enforced (see ``Login``).
    public var lockedUntil: Timestamp?
    /// Access tokens issued before this instant are no longer accepted.
    public var tokensValidAfter: Timestamp?
    /// The data key was destroyed: personal fields are empty for good; the user stays deleted.
    public var isErased = false

    public init(id: UUID) {
        self.id = id
    }

    /// How many times ``resetRequestTimes``, ``verificationRequestTimes`` and ``noticeTimes``
    /// keep each.
    public static let requestTimesKept = 32

    /// How many of `times` fall in the hour before `now` (one exactly an hour old does not).
    public static func inTheHour(before now: Timestamp, of times: [Timestamp]) -> Int {
        let hourAgo = now.adding(microseconds: -3_600 * 1_000_000)
        return times.reversed().prefix { $0 > hourAgo }.count
    }

    /// Notices mailed for one account in any hour (5). A part of the fold, not a setting:
    /// changing it changes what a replay folds, so it takes a new projection version.
    /// At most ``requestTimesKept``.
    public static let noticesMailedPerHour = 5

    /// Notes a notice called for at `time` (``noticeTimes``), unless ``noticesMailedPerHour``
    /// were noted in the hour before it: then it is neither noted nor mailed. So at most that
    /// many are mailed in any hour, and while events keep calling for them, the holder of the
    /// address hears of one again as soon as the hour frees a place.
    mutating func noteNotice(at time: Timestamp) {
        guard Self.inTheHour(before: time, of: noticeTimes) < Self.noticesMailedPerHour else { return }
        Self.note(time, in: &noticeTimes)
    }

    /// Whole seconds from `now` until the hour frees a place for a notice (0: there is one).
    public func secondsUntilANoticeIsFree(at now: Timestamp) -> Int {
        let noted = Self.inTheHour(before: now, of: noticeTimes)
        guard noted >= Self.noticesMailedPerHour, let oldest = noticeTimes.suffix(noted).first else { return 0 }
        let wait = oldest.microsecondsSince1970 + 3_600 * 1_000_000 - now.microsecondsSince1970
        return Int((wait + 999_999) / 1_000_000)
    }

    /// Adds `time` to `times`, the oldest dropped past ``requestTimesKept``.
    static func note(_ time: Timestamp, in times: inout [Timestamp]) {
        if times.count >= requestTimesKept { times.removeFirst(times.count - requestTimesKept + 1) }
        times.append(time)
    }

    public var exists: Bool { version > 0 }
    /// Whether the user holds the uniqueness claim on their email: a user who exists and is
    /// not erased, unless soft-deleted with an address never verified (``SoftDelete``).
    public var holdsEmailClaim: Bool { exists && !isErased && !(isDeleted && emailVerifiedAt == nil) }
    public var isDeleted: Bool { deletedAt != nil }

    /// The seed's refresh_token_hash.
    public var refreshTokenHash: TokenHash? { session?.tokenHash }

    public struct PendingToken: Hashable, Sendable {
        public var hash: TokenHash
        public var expiresAt: Timestamp

        public init(hash: TokenHash, expiresAt: Timestamp) {
            self.hash = hash
            self.expiresAt = expiresAt
        }
    }

    /// A new address waiting for its confirmation, and the token that confirms it.
    public struct PendingEmailChange: Hashable, Sendable {
        public var newEmail: String
        public var token: PendingToken

        public init(newEmail: String, token: PendingToken) {
            self.newEmail = newEmail
            self.token = token
        }
    }

    public struct Session: Hashable, Sendable {
        public var id: UUID
        public var tokenHash: TokenHash
        /// The hashes of the tokens this session issued before the current one, oldest first:
        /// the newest ``rememberedTokens`` of them. Presenting one of these is reuse; a token
        /// this session never issued (or one older than these) is merely invalid.
        public var earlierTokenHashes: [TokenHash]
        /// When the token was rotated most recently, for the grace window.
        public var rotatedAt: Timestamp?
        public var startedAt: Timestamp
        public var lastUsedAt: Timestamp

        /// How many earlier tokens a session remembers (16: with access tokens of 15 minutes,
        /// a client refreshing as they expire covers the last four hours).
        public static let rememberedTokens = 16

        /// The token rotated away most recently.
        public var previousTokenHash: TokenHash? { earlierTokenHashes.last }

        public init(
            id: UUID, tokenHash: TokenHash, earlierTokenHashes: [TokenHash] = [], rotatedAt: Timestamp? = nil,
            startedAt: Timestamp, lastUsedAt: Timestamp
        ) {
            self.id = id
            self.tokenHash = tokenHash
            self.earlierTokenHashes = earlierTokenHashes
            self.rotatedAt = rotatedAt
            self.startedAt = startedAt
            self.lastUsedAt = lastUsedAt
        }

        /// Makes `hash` the current token, remembering the one it replaces.
        mutating func rotate(to hash: TokenHash, at time: Timestamp) {
            earlierTokenHashes.append(tokenHash)
            if earlierTokenHashes.count > Self.rememberedTokens {
                earlierTokenHashes.removeFirst(earlierTokenHashes.count - Self.rememberedTokens)
            }
            tokenHash = hash
            rotatedAt = time
            lastUsedAt = time
        }
    }
}
