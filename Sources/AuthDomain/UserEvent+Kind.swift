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
            }
        }

        /// Whether events of this kind carry a sealed personal part.
        public var hasPersonalData: Bool {
            switch self {
            case .registered, .passwordResetCompleted, .passwordChanged, .passwordRehashed, .profileUpdated,
                .stripeCustomerLinked:
                return true
            default:
                return false
            }
        }

        /// The kind whose name is `bytes` (UTF-8), or `nil` for a name no build has written.
        public init?(typeBytes bytes: UnsafeRawBufferPointer) {
            // Names differ in length or in their first bytes; check the few that share a length.
            guard let base = bytes.baseAddress else { return nil }
            for kind in Self.byLength[min(bytes.count, Self.byLength.count - 1)] {
                if memcmp(base, kind.name.utf8Start, bytes.count) == 0 {
                    self = kind
                    return
                }
            }
            return nil
        }

        public init?(name: String) {
            var name = name
            guard
                let kind = name.withUTF8({ utf8 in Kind(typeBytes: UnsafeRawBufferPointer(utf8)) })
            else { return nil }
            self = kind
        }

        /// Kinds grouped by the length of their name (the last group stays empty: no name is that long).
        static let byLength: [[Kind]] = {
            let longest = allCases.map(\.name.utf8CodeUnitCount).max()!
            var groups = [[Kind]](repeating: [], count: longest + 2)
            for kind in allCases { groups[kind.name.utf8CodeUnitCount].append(kind) }
            return groups
        }()
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
        }
    }
}
