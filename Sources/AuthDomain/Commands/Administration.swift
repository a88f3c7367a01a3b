import EventLog
import Foundation

/// Gives a user another role. Only an ADMIN, never on themselves (no credential scope grants
/// it); ends the user's session, since their access tokens carry the old role.
public struct ChangeRole: UserCommand {
    public var actor: Actor
    public var role: Role

    public init(actor: Actor, role: Role) {
        self.actor = actor
        self.role = role
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        if let refusal = actor.refusal(unlessAdminOr: nil) { return .reject(refusal) }
        guard state.exists else { return .reject(.notFound) }
        guard !actor.isUser(state.id) else { return .reject(.cannotChangeOwnRole) }
        guard !state.isDeleted else { return .reject(.userDeleted) }
        guard state.role != role else { return .accept([]) }
        return .accept([.roleChanged(from: state.role, to: role)])
    }
}

/// Changes names and phone (already validated by ``ProfileField``). The user, an ADMIN, or a
/// credential with `users:write`.
/// Only fields that differ are recorded; no difference, no event.
public struct UpdateProfile: UserCommand {
    public var actor: Actor
    public var changes: UserEvent.ProfileChanges

    public init(actor: Actor, changes: UserEvent.ProfileChanges) {
        self.actor = actor
        self.changes = changes
    }

    /// Permission is checked before existence: anyone but the user and an ADMIN gets `forbidden`
    /// (a credential without `users:write`, `insufficient_scope`) for any id, so the answer
    /// never tells them which ids are users.
    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        if !actor.isUser(state.id), let refusal = actor.refusal(unlessAdminOr: .usersWrite) {
            return .reject(refusal)
        }
        guard state.exists else { return .reject(.notFound) }
        guard !state.isDeleted else { return .reject(.userDeleted) }
        var effective = UserEvent.ProfileChanges()
        if let first = changes.firstName, first != state.firstName { effective.firstName = first }
        if let last = changes.lastName, last != state.lastName { effective.lastName = last }
        if let phone = changes.phone, phone != state.phone { effective.phone = .some(phone) }
        return .accept(effective.isEmpty ? [] : [.profileUpdated(effective)])
    }
}

/// Links the user's Stripe customer id (an ADMIN, the system, or a credential with `stripe:link`). The handler claims the id in
/// the uniqueness index, in the append's transaction, so one customer id belongs to one user;
/// linking the id the user already has records nothing.
public struct LinkStripeCustomer: UserCommand {
    public var actor: Actor
    public var customerID: String

    public init(actor: Actor, customerID: String) {
        self.actor = actor
        self.customerID = customerID
    }

    /// Printable ASCII without spaces, 1 to 255 characters (Stripe's are `cus_` and 14+ more).
    public static func validate(_ raw: String) throws(Rejection) -> String {
        guard !raw.isEmpty, raw.utf8.count <= 255, raw.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalidField(field: "stripe_customer_id", reason: "must be 1 to 255 printable ASCII characters")
        }
        return raw
    }

    public static let claimScope = "stripe_customer"

    /// What the uniqueness index holds for a customer id: its SHA-256, not the id itself.
    public static func claimKey(_ customerID: String) -> [UInt8] { TokenHash(of: Array(customerID.utf8)).bytes }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        if let refusal = actor.refusal(unlessAdminOr: .stripeLink) { return .reject(refusal) }
        guard state.exists else { return .reject(.notFound) }
        guard !state.isDeleted else { return .reject(.userDeleted) }
        guard state.stripeCustomerID != customerID else { return .accept([]) }
        return .accept([.stripeCustomerLinked(customerID: customerID)])
    }
}

/// Removes the user's Stripe customer id (an ADMIN, the system, or a credential with `stripe:link`). The handler releases its
/// uniqueness claim in the append's transaction, so another user may then link it. A user with
/// no id linked records nothing: unlinking twice is unlinking once.
public struct UnlinkStripeCustomer: UserCommand {
    public var actor: Actor

    public init(actor: Actor) {
        self.actor = actor
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        if let refusal = actor.refusal(unlessAdminOr: .stripeLink) { return .reject(refusal) }
        guard state.exists else { return .reject(.notFound) }
        guard !state.isDeleted else { return .reject(.userDeleted) }
        guard state.stripeCustomerID != nil else { return .accept([]) }
        return .accept([.stripeCustomerUnlinked])
    }
}

/// Hides a user: no login, no refresh, sessions end. The user, an ADMIN, or a credential
/// with `users:write`.
///
/// Rules:
/// - The user themself must give their current password (`currentPasswordMatches`): an access
///   token alone, stolen, cannot lock its owner out. A wrong one is refused as a wrong login
///   is, recording `LoginFailed`.
/// - The email stays reserved for a restore only when it was verified
///   (``UserState/holdsEmailClaim``): an address never proven to be the account holder's is
///   released, so that whoever registers an address not theirs and deletes the account does
///   not keep its owner from registering it.
public struct SoftDelete: UserCommand {
    public var actor: Actor
    /// Whether the password the user gave is their current one; nil when none was given
    /// (an ADMIN or a credential needs none).
    public var currentPasswordMatches: Bool?

    public init(actor: Actor, currentPasswordMatches: Bool? = nil) {
        self.actor = actor
        self.currentPasswordMatches = currentPasswordMatches
    }

    /// Permission is checked before existence, as in ``UpdateProfile``.
    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        if !actor.isUser(state.id), let refusal = actor.refusal(unlessAdminOr: .usersWrite) {
            return .reject(refusal)
        }
        guard state.exists else { return .reject(.notFound) }
        guard !state.isDeleted else { return .reject(.userDeleted) }
        if actor.isUser(state.id), currentPasswordMatches != true { return .wrongCurrentPassword(state) }
        return .accept([.softDeleted])
    }
}

/// Undoes a soft-delete (ADMIN, or a credential with `users:write`). An email the delete
/// released (never verified) is claimed again: taken meanwhile, the restore is refused.
public struct Restore: UserCommand {
    public var actor: Actor

    public init(actor: Actor) {
        self.actor = actor
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        if let refusal = actor.refusal(unlessAdminOr: .usersWrite) { return .reject(refusal) }
        guard state.exists else { return .reject(.notFound) }
        guard !state.isErased else { return .reject(.userErased) }
        guard state.isDeleted else { return .reject(.notDeleted) }
        return .accept([.restored])
    }
}

/// Erases a user's personal data for good (ADMIN or the system; no credential scope grants it): the shell destroys the
/// user's data key after this event, and releases the email and Stripe claims with it.
/// The stream stays, so the audit trail keeps every event's type, time and actor. An ADMIN
/// never erases their own account: one request with their session or access token must not
/// destroy it for good (another ADMIN, or `authctl erase`, can).
public struct Erase: UserCommand {
    public var actor: Actor

    public init(actor: Actor) {
        self.actor = actor
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        if let refusal = actor.refusal(unlessAdminOr: nil) { return .reject(refusal) }
        guard state.exists else { return .reject(.notFound) }
        guard !actor.isUser(state.id) else { return .reject(.cannotEraseOwnAccount) }
        guard !state.isErased else { return .accept([]) }
        return .accept([.erased])
    }
}
