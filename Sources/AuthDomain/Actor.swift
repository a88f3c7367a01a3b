import EventLog
import Foundation

/// Who issues a command: recorded with every event it causes.
public enum Actor: Hashable, Sendable, CustomStringConvertible {
    /// A signed-in user, with the role their access token carries.
    case user(UUID, Role)
    /// The service itself or an operator's tool.
    case system
    /// Nobody signed in (registration, login, reset requests).
    case anonymous
    /// An application's backend calling with a service credential, with the credential's
    /// scopes (``CredentialScope``); the log records only its id.
    case credential(UUID, scopes: Set<CredentialScope>)

    /// How the log records the actor: the user id in lower case, `system`, `anonymous`, or
    /// `credential:` and the credential's id in lower case.
    public var description: String {
        switch self {
        case .user(let id, _): return id.lowercasedText
        case .system: return "system"
        case .anonymous: return "anonymous"
        case .credential(let id, _): return Self.credentialPrefix + id.lowercasedText
        }
    }

    /// What the recorded actor of a credential starts with.
    public static let credentialPrefix = "credential:"

    /// Whether `text` is an actor as the log records one: a user id, `system`, `anonymous`,
    /// or `credential:` and a credential id (what an import accepts).
    public static func isRecorded(_ text: String) -> Bool {
        if text == "system" || text == "anonymous" || UUID(text: text) != nil { return true }
        return text.hasPrefix(credentialPrefix)
            && UUID(text: String(text.dropFirst(credentialPrefix.count))) != nil
    }

    /// Whether nobody signed in asked (the public API's requests by address): what the
    /// account's hourly mail limits apply to (``RequestPasswordReset``, ``RequestEmailVerification``).
    public var asksUnsignedIn: Bool { self == .anonymous }

    var isAdmin: Bool {
        if case .user(_, .admin) = self { return true }
        return self == .system
    }

    /// Whether this is the user `id` acting themself.
    public func isUser(_ id: UUID) -> Bool {
        if case .user(let actor, _) = self { return actor == id }
        return false
    }

    /// Why the actor may not do work that ADMIN (or the system) may do on any user and a
    /// credential may do with `scope` (`nil`: no credential may): `nil` when it may;
    /// ``Rejection/insufficientScope`` for a credential without the scope; ``Rejection/forbidden``
    /// for anyone else.
    func refusal(unlessAdminOr scope: CredentialScope?) -> Rejection? {
        if isAdmin { return nil }
        if case .credential(_, let scopes) = self {
            guard let scope else { return .forbidden }
            return scopes.contains(scope) ? nil : .insufficientScope
        }
        return .forbidden
    }
}
