import Foundation

/// A key an application's backend calls the API with instead of a person's password: a
/// name, scopes, and the SHA-256 of its secret (the secret itself is shown once, when it is
/// made, and stored nowhere).
///
/// Rules:
/// - the secret is `alk_` and 43 base64url characters (32 random bytes), sent as
///   `Authorization: Bearer alk_...`; ``looksLikeSecret(_:)`` tells it from an access token;
/// - a credential is found by the digest of the secret presented (``TokenHash``, compared in
///   constant time), so no secret is ever compared byte by byte;
/// - a revoked credential is refused at once and for good; its record stays, for the audit;
/// - everything it causes names it as the actor (``Actor/credential(_:scopes:)``).
public struct ServiceCredential: Hashable, Sendable {
    public var id: UUID
    public var name: String
    public var scopes: Set<CredentialScope>
    public var secretHash: TokenHash
    /// RFC 3339.
    public var createdAt: String
    /// RFC 3339; `nil` while the credential works.
    public var revokedAt: String?

    public init(
        id: UUID, name: String, scopes: Set<CredentialScope>, secretHash: TokenHash, createdAt: String,
        revokedAt: String? = nil
    ) {
        self.id = id
        self.name = name
        self.scopes = scopes
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    public var isRevoked: Bool { revokedAt != nil }

    /// The actor recorded with every event the credential causes.
    public var actor: Actor { .credential(id, scopes: scopes) }

    /// What every secret starts with: tells a credential from an access token at a glance,
    /// and lets secret scanners recognise a leaked one.
    public static let secretPrefix = "alk_"
    /// Random bytes in a secret.
    public static let secretBytes = 32

    /// Whether `text` has the shape of a secret: the prefix and 43 base64url characters.
    public static func looksLikeSecret(_ text: some StringProtocol) -> Bool {
        let bytes = text.utf8
        guard bytes.count == secretPrefix.utf8.count + 43, text.hasPrefix(secretPrefix) else { return false }
        return bytes.dropFirst(secretPrefix.utf8.count).allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == 0x2D || byte == 0x5F
        }
    }

    /// A name: 1 to 64 characters of letters, digits, `.`, `_` and `-`.
    public static func validName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == 0x2D || byte == 0x5F || byte == 0x2E
            }
    }
}

/// The service credentials a server accepts: the port a store (files in the data directory)
/// serves, so that the HTTP layer depends on no storage.
///
/// Rules every implementation keeps: ``credential(presenting:)`` answers a credential only
/// when the secret's digest is one it holds and the credential is not revoked; a revocation
/// made while the server runs is seen by the next request, without a restart.
public protocol ServiceCredentials: Sendable {
    /// The credential whose secret is `secret`, if it is one and is not revoked.
    func credential(presenting secret: String) throws -> ServiceCredential?
}
