/// Why a token or key was refused. Messages say what, never echo the token.
public enum AccessTokenError: Error, Hashable, Sendable, CustomStringConvertible {
    case key(String)
    case malformed(String)
    case rejected(String)

    public var description: String {
        switch self {
        case .key(let detail): return "signing key: \(detail)"
        case .malformed(let detail): return "malformed token: \(detail)"
        case .rejected(let detail): return "token rejected: \(detail)"
        }
    }
}
