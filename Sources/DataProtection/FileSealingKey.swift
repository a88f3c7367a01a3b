/// The key that seals the secrets authd keeps in files of its data directory beside the key
/// store: the access-token signing keys (`DATA/signing-keys`) and the webhook endpoints'
/// secrets (`DATA/webhooks/`). A copy of the directory without the key-encryption key opens
/// none of them.
///
/// Rules:
/// - It is derived from the log's signing key (``KeyStore/fileSealingKey``), which the KEK
///   wraps (format 2) or derives (format 1): only the KEK opens it, and a rotation of the KEK
///   changes neither it nor the files, so a rotation has nothing more to rewrite. As with the
///   log's key, whoever held the old KEK can still derive it, from this release's copies as
///   from later ones (docs/threat-model.md, "Rotating the KEK").
/// - Every secret is sealed with the place it belongs to as associated data (``seal(_:for:)``),
///   so a sealed secret moved to another line, kid or endpoint does not open.
public struct FileSealingKey: Sendable {
    package let bytes: [UInt8]

    /// A key of 32 bytes; from a key store, use ``KeyStore/fileSealingKey``.
    package init(bytes: [UInt8]) {
        precondition(bytes.count == 32)
        self.bytes = bytes
    }

    /// The key derived from a log signing seed: HMAC-SHA256(seed, "authlog file sealing key v1").
    package init(logSigningSeed seed: [UInt8]) {
        self.init(bytes: hmacSHA256(key: seed, Array("authlog file sealing key v1".utf8)))
    }

    /// `secret` sealed (AES-256-GCM, a fresh nonce) for `place`.
    public func seal(_ secret: [UInt8], for place: SealedSecretPlace) throws(DataProtectionError) -> [UInt8] {
        try AESGCM.seal(secret, key: bytes, associatedData: Array(place.text.utf8))
    }

    /// What ``seal(_:for:)`` sealed for `place`; ``DataProtectionError/tampered`` when the
    /// bytes were changed, sealed for another place, or sealed under another directory's key.
    public func open(_ sealed: [UInt8], for place: SealedSecretPlace) throws(DataProtectionError) -> [UInt8] {
        let context = Array(place.text.utf8)
        do {
            return try sealed.withUnsafeBytes { try AESGCM.open($0, key: bytes, associatedData: context) }
        } catch {
            throw .tampered
        }
    }
}

extension KeyStore {
    /// The key that seals the secrets in the data directory's files (see ``FileSealingKey``),
    /// or `nil` for a store that holds no key (as ``logSigningKey``).
    public var fileSealingKey: FileSealingKey? {
        guard keySource != "none" else { return nil }
        var seed = storedLogSigningSeed ?? kek.derivedLogSigningSeed
        defer { seed.withUnsafeMutableBytes { cleanse($0) } }
        return FileSealingKey(logSigningSeed: seed)
    }
}

/// Where a secret is kept, as the associated data it is sealed with: one text for each kind
/// of secret, wherever it is wrapped, so a secret sealed for one place opens nowhere else.
public struct SealedSecretPlace: Sendable, Hashable {
    /// The associated data.
    public let text: String

    /// An access-token signing key, by kid: in `DATA/signing-keys` under ``FileSealingKey``,
    /// and in the shared database's rows under the KEK.
    public static func accessTokenSigningKey(_ kid: String) -> Self {
        Self(text: "authlog access-token signing key " + kid)
    }

    /// A webhook endpoint's secret, by endpoint id, in `DATA/webhooks/ID.json`.
    public static func webhookSecret(_ endpoint: String) -> Self { Self(text: "authlog webhook secret " + endpoint) }
}
