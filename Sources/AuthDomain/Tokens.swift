import EventLog
import Foundation

/// A refresh token: `<reference>.<secret>`, both base64url.
///
/// The reference (user id and session id, 32 bytes) names the session, so a token that was
/// already rotated away is recognised as reuse rather than as garbage. The secret is 256
/// random bits; only its SHA-256 is stored.
public struct RefreshToken: Hashable, Sendable {
    public let userID: UUID
    public let sessionID: UUID
    let secret: [UInt8]

    public init(userID: UUID, sessionID: UUID, secret: [UInt8]) {
        precondition(secret.count == 32, "a refresh token's secret is 32 bytes")
        self.userID = userID
        self.sessionID = sessionID
        self.secret = secret
    }

    /// What the client holds. Never log or store it.
    public var text: String {
        Base64URL.encode(bytes(of: userID) + bytes(of: sessionID)) + "." + Base64URL.encode(secret)
    }

    public var secretHash: TokenHash { TokenHash(of: secret) }

    /// Parses a presented token; `nil` for anything malformed.
    public init?(parsing text: String) {
        guard let (first, second) = twoParts(of: text), let reference = Base64URL.decode(first), reference.count == 32,
            let secret = Base64URL.decode(second), secret.count == 32
        else { return nil }
        self.init(userID: uuid(reference[0..<16]), sessionID: uuid(reference[16..<32]), secret: secret)
    }
}

/// A password-reset or email-verification token: `<user id>.<secret>`, both base64url.
/// Single use, short-lived; only SHA-256 of the secret is stored.
public struct UserToken: Hashable, Sendable {
    public let userID: UUID
    let secret: [UInt8]

    public init(userID: UUID, secret: [UInt8]) {
        precondition(secret.count == 32, "a token's secret is 32 bytes")
        self.userID = userID
        self.secret = secret
    }

    public var text: String { Base64URL.encode(bytes(of: userID)) + "." + Base64URL.encode(secret) }
    public var secretHash: TokenHash { TokenHash(of: secret) }

    public init?(parsing text: String) {
        guard let (first, second) = twoParts(of: text), let reference = Base64URL.decode(first), reference.count == 16,
            let secret = Base64URL.decode(second), secret.count == 32
        else { return nil }
        self.init(userID: uuid(reference[0..<16]), secret: secret)
    }
}

/// A token's two parts, either side of its first ".", if it is at most 128 bytes long. A
/// second "." stays in the second part, where base64url decoding refuses it.
private func twoParts(of text: String) -> (Substring, Substring)? {
    guard text.utf8.count <= 128, let dot = text.utf8.firstIndex(of: UInt8(ascii: ".")) else { return nil }
    return (text[..<dot], text[text.utf8.index(after: dot)...])
}

func bytes(of id: UUID) -> [UInt8] {
    withUnsafeBytes(of: id.uuid) { Array($0) }
}

func uuid(_ bytes: ArraySlice<UInt8>) -> UUID {
    let b = Array(bytes)
    return UUID(
        uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
}
