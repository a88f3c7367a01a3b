/// The seed's roles. Registration always gives ``target``; only an ADMIN changes roles.
public enum Role: String, CaseIterable, Hashable, Sendable, Codable {
    case target = "TARGET"
    case manager = "MANAGER"
    case admin = "ADMIN"
    case marketing = "MARKETING"

    /// One byte in event payloads and stored rows; never reorder.
    public var code: UInt8 {
        switch self {
        case .target: return 0
        case .manager: return 1
        case .admin: return 2
        case .marketing: return 3
        }
    }

    public init?(code: UInt8) {
        switch code {
        case 0: self = .target
        case 1: self = .manager
        case 2: self = .admin
        case 3: self = .marketing
        default: return nil
        }
    }
}
