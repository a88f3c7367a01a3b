import COpenSSL

/// The key that seals the secrets authd keeps in files of its data directory beside the key
/// store: the access-token signing keys (`DATA/signing-keys`) and the webhook endpoints'
/// secrets (`DATA/webhooks/`). A copy of the directory without the key-encryption key opens
/// none of them.
///
/// Rules:
/// - It is derived from the log's signing key (``KeyStore/fileSealingKey``), which the KEK
///   wraps (format 2) or derives (format 1): only the KEK opens it, and a rotation of the KEK
///   changes neither it nor the files, so a rotation has nothing more to rewrite. As with the
///   log's key, whoever held the old KEK can still derive it.
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
        var derived = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        let label = Array("authlog file sealing key v1".utf8)
        _ = HMAC(EVP_sha256(), seed, Int32(seed.count), label, label.count, &derived, &length)
        self.init(bytes: derived)
    }

    /// `secret` sealed (AES-256-GCM, a fresh nonce) for `place`, the text that names where it
    /// is kept (for example "authlog access-token signing key KID").
    public func seal(_ secret: [UInt8], for place: String) throws(DataProtectionError) -> [UInt8] {
        try AESGCM.seal(secret, key: bytes, associatedData: Array(place.utf8))
    }

    /// What ``seal(_:for:)`` sealed for `place`; ``DataProtectionError/tampered`` when the
    /// bytes were changed, sealed for another place, or sealed under another directory's key.
    public func open(_ sealed: [UInt8], for place: String) throws(DataProtectionError) -> [UInt8] {
        let context = Array(place.utf8)
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

/// The associated data secrets are sealed with, by the place they are kept: one text for
/// each kind of secret, wherever it is wrapped.
public enum SealedSecretPlace {
    /// An access-token signing key, by kid: in `DATA/signing-keys` under ``FileSealingKey``,
    /// and in the shared database's rows under the KEK.
    public static func accessTokenSigningKey(_ kid: String) -> String { "authlog access-token signing key " + kid }

    /// A webhook endpoint's secret, by endpoint id, in `DATA/webhooks/ID.json`.
    public static func webhookSecret(_ endpoint: String) -> String { "authlog webhook secret " + endpoint }
}
