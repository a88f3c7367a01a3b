/// The JWS algorithms access tokens are signed with.
public enum TokenAlgorithm: String, CaseIterable, Sendable {
    /// ECDSA on P-256 with SHA-256 (RFC 7518 section 3.4): the default, the most widely
    /// accepted by gateways.
    case es256 = "ES256"
    /// Ed25519 (RFC 8037).
    case eddsa = "EdDSA"

    /// The algorithm named as authd's `--token-algorithm` writes it: `es256` or `eddsa`.
    public init?(option: String) {
        guard let found = Self.allCases.first(where: { $0.rawValue.lowercased() == option.lowercased() }) else {
            return nil
        }
        self = found
    }
}

/// A key that signs access tokens: Ed25519 (JWS `EdDSA`) or P-256 (JWS `ES256`).
///
/// Rules: a key signs and verifies under its own algorithm only. Its stored form (a key
/// file's line, the shared key store's wrapped secret) is its private key as bytes: 32 bytes
/// are an Ed25519 seed (the only kind before ES256, so older stores read unchanged), anything
/// else must be a P-256 key in DER.
public enum TokenKey: Sendable {
    case ed25519(Ed25519Key)
    case p256(P256Key)

    /// The key stored as `bytes` (see the type's rules).
    public init(privateKey bytes: [UInt8]) throws(SignatureError) {
        if bytes.count == 32 {
            self = .ed25519(try Ed25519Key(privateKey: bytes))
        } else {
            self = .p256(try P256Key(privateKey: bytes))
        }
    }

    /// A new random key of `algorithm`.
    public static func generate(_ algorithm: TokenAlgorithm) throws(SignatureError) -> TokenKey {
        switch algorithm {
        case .es256: return .p256(try P256Key.generate())
        case .eddsa: return .ed25519(try Ed25519Key.generate())
        }
    }

    public var algorithm: TokenAlgorithm {
        switch self {
        case .ed25519: return .eddsa
        case .p256: return .es256
        }
    }

    /// The stored form (see the type's rules); nil for a verify-only key. Never log it.
    package var privateKey: [UInt8]? {
        switch self {
        case .ed25519(let key): return key.privateKey
        case .p256(let key): return key.privateKey
        }
    }

    /// The public key: Ed25519's 32 bytes, or P-256's uncompressed point (65 bytes).
    public var publicKey: [UInt8] {
        switch self {
        case .ed25519(let key): return key.publicKey
        case .p256(let key): return key.publicKey
        }
    }

    /// Bytes that identify the public key: the first 12 name it as a `kid`.
    public var publicKeyID: [UInt8] {
        switch self {
        case .ed25519(let key): return Array(key.publicKey.prefix(12))
        case .p256(let key): return Array(key.x.prefix(12))
        }
    }

    public func sign(_ message: [UInt8]) throws(SignatureError) -> [UInt8] {
        switch self {
        case .ed25519(let key): return try key.sign(message)
        case .p256(let key): return try key.sign(message)
        }
    }

    public func verify(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        switch self {
        case .ed25519(let key): return key.verify(signature, of: message)
        case .p256(let key): return key.verify(signature, of: message)
        }
    }
}
