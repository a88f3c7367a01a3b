import COpenSSL
import Signatures

extension KeyEncryptionKey {
    /// The Ed25519 key that signs the log's checkpoints, derived from this key:
    /// HMAC-SHA256(KEK, "authlog log signing key v1") is its 32-byte private key.
    ///
    /// Whoever holds the KEK can sign; its public half (``KeyStore/logSigningKey``) can be
    /// published for auditors, who verify with it and no secret. Another KEK gives another key.
    var logSigningKey: Ed25519Key {
        var seed = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        let label = Array("authlog log signing key v1".utf8)
        _ = HMAC(EVP_sha256(), bytes, 32, label, label.count, &seed, &length)
        defer { seed.withUnsafeMutableBytes { cleanse($0) } }
        // 32 bytes always make an Ed25519 key.
        return try! Ed25519Key(privateKey: seed)
    }
}

extension KeyStore {
    /// The log's signing key, derived from the key-encryption key; `nil` for a store that
    /// holds no key (``locked()``, or a read-only open of a directory without a store).
    public var logSigningKey: Ed25519Key? {
        keySource == "none" ? nil : kek.logSigningKey
    }
}
