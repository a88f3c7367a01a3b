import EventLog
import Foundation

/// A change to one user, in the past tense. One stream a user, keyed by the user id.
///
/// No event holds a raw password or token: passwords as PHC hash strings, tokens as
/// SHA-256 of their secret. docs/events.md lists every event with its schema version.
public enum UserEvent: Hashable, Sendable {
    case registered(Registered)
    case emailVerificationRequested(PendingTokenIssued)
    case emailVerified
    case loginSucceeded(SessionStarted)
    case loginFailed(LoginFailed)
    case refreshTokenRotated(TokenRotated)
    case refreshTokenReuseDetected(sessionID: UUID)
    case loggedOut(sessionID: UUID)
    case passwordResetRequested(PendingTokenIssued)
    case passwordResetCompleted(passwordHash: String)
    case passwordChanged(passwordHash: String)
    case passwordRehashed(passwordHash: String)
    case profileUpdated(ProfileChanges)
    case roleChanged(from: Role, to: Role)
    case stripeCustomerLinked(customerID: String)
    /// The user's Stripe customer id was removed (its uniqueness claim released with it).
    case stripeCustomerUnlinked
    /// The user asked to move their account to another address: it is confirmed with the
    /// token mailed there (its hash here), before it expires.
    case emailChangeRequested(EmailChangeRequested)
    /// The new address was confirmed with its token: the account's address from now on,
    /// verified by that confirmation. The email claim moved with this event.
    case emailChanged(email: String)
    case softDeleted
    case restored
    /// The user's data key was destroyed: every personal field of the stream is gone for good.
    case erased

    public struct Registered: Hashable, Sendable {
        public var email: String
        public var passwordHash: String
        public var firstName: String
        public var lastName: String
        public var phone: String?
        public var role: Role

        public init(
            email: String, passwordHash: String, firstName: String, lastName: String, phone: String?, role: Role
        ) {
            self.email = email
            self.passwordHash = passwordHash
            self.firstName = firstName
            self.lastName = lastName
            self.phone = phone
            self.role = role
        }
    }

    /// An email change waiting for its confirmation: the new address (trimmed, NFC, as
    /// given), the hash of the token mailed to it, and when that token stops working.
    public struct EmailChangeRequested: Hashable, Sendable {
        public var newEmail: String
        public var tokenHash: TokenHash
        public var expiresAt: Timestamp

        public init(newEmail: String, tokenHash: TokenHash, expiresAt: Timestamp) {
            self.newEmail = newEmail
            self.tokenHash = tokenHash
            self.expiresAt = expiresAt
        }
    }

    /// A reset or verification token was issued: its hash and when it stops working.
    public struct PendingTokenIssued: Hashable, Sendable {
        public var tokenHash: TokenHash
        public var expiresAt: Timestamp

        public init(tokenHash: TokenHash, expiresAt: Timestamp) {
            self.tokenHash = tokenHash
            self.expiresAt = expiresAt
        }
    }

    public struct SessionStarted: Hashable, Sendable {
        public var sessionID: UUID
        public var refreshTokenHash: TokenHash

        public init(sessionID: UUID, refreshTokenHash: TokenHash) {
            self.sessionID = sessionID
            self.refreshTokenHash = refreshTokenHash
        }
    }

    public struct LoginFailed: Hashable, Sendable {
        /// Consecutive failures including this one.
        public var consecutiveFailures: UInt32
        /// Set when this failure locks the account.
        public var lockedUntil: Timestamp?

        public init(consecutiveFailures: UInt32, lockedUntil: Timestamp?) {
            self.consecutiveFailures = consecutiveFailures
            self.lockedUntil = lockedUntil
        }
    }

    public struct TokenRotated: Hashable, Sendable {
        public var sessionID: UUID
        public var refreshTokenHash: TokenHash

        public init(sessionID: UUID, refreshTokenHash: TokenHash) {
            self.sessionID = sessionID
            self.refreshTokenHash = refreshTokenHash
        }
    }

    /// Only the fields that changed; a `phone` of `.some(nil)` clears it.
    public struct ProfileChanges: Hashable, Sendable {
        public var firstName: String?
        public var lastName: String?
        public var phone: String??

        public init(firstName: String? = nil, lastName: String? = nil, phone: String?? = nil) {
            self.firstName = firstName
            self.lastName = lastName
            self.phone = phone
        }

        public var isEmpty: Bool { firstName == nil && lastName == nil && phone == nil }
    }
}
