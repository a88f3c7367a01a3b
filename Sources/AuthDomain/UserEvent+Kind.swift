import EventLog
import Foundation

extension UserEvent {
    /// Which event a stored type name denotes, recognised from the envelope's bytes in place.
    ///
    /// A fold over millions of events reads the type of each one: building a `String` and
    /// comparing it with every name costs more than decoding the payload, so the name's bytes
    /// are matched against the static names here, with no allocation.
    public enum Kind: UInt8, CaseIterable, Sendable {
        case registered, emailVerificationRequested, emailVerified, loginSucceeded, loginFailed
        case refreshTokenRotated, refreshTokenReuseDetected, loggedOut, passwordResetRequested
        case passwordResetCompleted, passwordChanged, passwordRehashed, profileUpdated, roleChanged
        case stripeCustomerLinked, softDeleted, restored, erased
        // New kinds go last: a kind's raw value is stable once released.
        case stripeCustomerUnlinked, emailChangeRequested, emailChanged

        /// The type name written in the envelope.
        public var name: StaticString {
            switch self {
            case .registered: return "UserRegistered"
            case .emailVerificationRequested: return "EmailVerificationRequested"
            case .emailVerified: return "EmailVerified"
            case .loginSucceeded: return "LoginSucceeded"
            case .loginFailed: return "LoginFailed"
            case .refreshTokenRotated: return "RefreshTokenRotated"
            case .refreshTokenReuseDetected: return "RefreshTokenReuseDetected"
            case .loggedOut: return "LoggedOut"
            case .passwordResetRequested: return "PasswordResetRequested"
            case .passwordResetCompleted: return "PasswordResetCompleted"
            case .passwordChanged: return "PasswordChanged"
            case .passwordRehashed: return "PasswordRehashed"
            case .profileUpdated: return "ProfileUpdated"
            case .roleChanged: return "RoleChanged"
            case .stripeCustomerLinked: return "StripeCustomerLinked"
            case .softDeleted: return "UserSoftDeleted"
            case .restored: return "UserRestored"
            case .erased: return "UserErased"
            case .stripeCustomerUnlinked: return "StripeCustomerUnlinked"
            case .emailChangeRequested: return "EmailChangeRequested"
            case .emailChanged: return "EmailChanged"
            }
        }

        /// Whether events of this kind carry a sealed personal part.
        public var hasPersonalData: Bool {
            switch self {
            case .registered, .passwordResetCompleted, .passwordChanged, .passwordRehashed, .profileUpdated,
                .stripeCustomerLinked, .emailChangeRequested, .emailChanged:
                return true
            default:
                return false
            }
        }

        /// Whether events of this kind change a personal field of the state: the ones that
        /// carry one, and `StripeCustomerUnlinked`, which clears the Stripe id while carrying
        /// nothing. A projection that keeps the personal part sealed must open and seal it
        /// again for these; for every other kind it may keep the sealed bytes as they are.
        public var changesPersonalFields: Bool {
            hasPersonalData || self == .stripeCustomerUnlinked
        }

        /// Whether events of this kind come with a change of the stream's uniqueness claims
        /// (its email address, its Stripe customer id) in the same append: registration,
        /// a confirmed email change, a Stripe link or unlink, erasure, and a soft-delete or a
        /// restore of a user whose address was never verified (released, then claimed again:
        /// ``UserState/holdsEmailClaim``). No other event does, so
        /// a reader that keeps a stream's claims beside its events (a cluster node's copy)
        /// need read them again only after one of these. A command that takes or gives up a
        /// claim must record one of these kinds (pinned by `ClaimKindsTests`).
        public var changesClaims: Bool {
            switch self {
            case .registered, .emailChanged, .stripeCustomerLinked, .stripeCustomerUnlinked, .erased, .softDeleted,
                .restored:
                return true
            default: return false
            }
        }

        /// The kind whose name is `bytes` (UTF-8), or `nil` for a name no build has written.
        public init?(typeBytes bytes: UnsafeRawBufferPointer) {
            // The length and the first byte tell the names apart, but for the two password
            // reset events (told apart by their fourteenth byte); the whole name is then
            // compared. A switch, because a fold reads the type of every event: a loop over
            // the names grouped by length cost a retain and a release per event.
            guard bytes.count >= 9, let base = bytes.baseAddress else { return nil }
            let candidate: Kind
            switch (bytes.count, bytes[0]) {
            case (14, UInt8(ascii: "U")): candidate = .registered
            case (26, UInt8(ascii: "E")): candidate = .emailVerificationRequested
            case (13, UInt8(ascii: "E")): candidate = .emailVerified
            case (14, UInt8(ascii: "L")): candidate = .loginSucceeded
            case (11, UInt8(ascii: "L")): candidate = .loginFailed
            case (19, UInt8(ascii: "R")): candidate = .refreshTokenRotated
            case (25, UInt8(ascii: "R")): candidate = .refreshTokenReuseDetected
            case (9, UInt8(ascii: "L")): candidate = .loggedOut
            case (22, UInt8(ascii: "P")):
                candidate = bytes[13] == UInt8(ascii: "R") ? .passwordResetRequested : .passwordResetCompleted
            case (15, UInt8(ascii: "P")): candidate = .passwordChanged
            case (16, UInt8(ascii: "P")): candidate = .passwordRehashed
            case (14, UInt8(ascii: "P")): candidate = .profileUpdated
            case (11, UInt8(ascii: "R")): candidate = .roleChanged
            case (20, UInt8(ascii: "S")): candidate = .stripeCustomerLinked
            case (15, UInt8(ascii: "U")): candidate = .softDeleted
            case (12, UInt8(ascii: "U")): candidate = .restored
            case (10, UInt8(ascii: "U")): candidate = .erased
            case (22, UInt8(ascii: "S")): candidate = .stripeCustomerUnlinked
            case (20, UInt8(ascii: "E")): candidate = .emailChangeRequested
            case (12, UInt8(ascii: "E")): candidate = .emailChanged
            default: return nil
            }
            let name = candidate.name
            guard name.utf8CodeUnitCount == bytes.count, memcmp(base, name.utf8Start, bytes.count) == 0 else {
                return nil
            }
            self = candidate
        }

        public init?(name: String) {
            var name = name
            guard
                let kind = name.withUTF8({ utf8 in Kind(typeBytes: UnsafeRawBufferPointer(utf8)) })
            else { return nil }
            self = kind
        }
    }

    public var kind: Kind {
        switch self {
        case .registered: return .registered
        case .emailVerificationRequested: return .emailVerificationRequested
        case .emailVerified: return .emailVerified
        case .loginSucceeded: return .loginSucceeded
        case .loginFailed: return .loginFailed
        case .refreshTokenRotated: return .refreshTokenRotated
        case .refreshTokenReuseDetected: return .refreshTokenReuseDetected
        case .loggedOut: return .loggedOut
        case .passwordResetRequested: return .passwordResetRequested
        case .passwordResetCompleted: return .passwordResetCompleted
        case .passwordChanged: return .passwordChanged
        case .passwordRehashed: return .passwordRehashed
        case .profileUpdated: return .profileUpdated
        case .roleChanged: return .roleChanged
        case .stripeCustomerLinked: return .stripeCustomerLinked
        case .softDeleted: return .softDeleted
        case .restored: return .restored
        case .erased: return .erased
        case .stripeCustomerUnlinked: return .stripeCustomerUnlinked
        case .emailChangeRequested: return .emailChangeRequested
        case .emailChanged: return .emailChanged
        }
    }
}
