import Foundation

/// Who issues a command: recorded with every event it causes.
public enum Actor: Hashable, Sendable, CustomStringConvertible {
    /// A signed-in user, with the role their access token carries.
    case user(UUID, Role)
    /// The service itself or an operator's tool.
    case system
    /// Nobody signed in (registration, login, reset requests).
    case anonymous

    /// How the log records the actor: the user id in lower case, `system` or `anonymous`.
    public var description: String {
        switch self {
        case .user(let id, _): return id.uuidString.lowercased()
        case .system: return "system"
        case .anonymous: return "anonymous"
        }
    }

    var isAdmin: Bool {
        if case .user(_, .admin) = self { return true }
        return self == .system
    }

    func isUser(_ id: UUID) -> Bool {
        if case .user(let actor, _) = self { return actor == id }
        return false
    }
}
