import COpenSSL
import Crypto
import Foundation

/// An Ed25519 key pair (RFC 8032): access tokens and the log's signed checkpoints both sign
/// with it.
///
/// Rules:
/// - Keys are read by OpenSSL's EVP interface.
/// - Signatures are made and verified by swift-crypto's Ed25519 (BoringSSL's code), which
///   costs a third of OpenSSL 3.0's here (docs/performance.md).
/// - Ed25519 signing is deterministic, so the two give the same bytes: ``signWithOpenSSL(_:)``
///   is the reference that `Ed25519SignerTests` holds ``sign(_:)`` to, and
///   ``verifyWithOpenSSL(_:of:)`` the one it holds ``verify(_:of:)`` to. (On Apple platforms
///   swift-crypto is CryptoKit, whose signatures are randomized: valid, but not the same bytes.)
public final class Ed25519Key: @unchecked Sendable {
    // EVP_PKEY is safe to share for signing and verifying from several threads, and so is the
    // immutable swift-crypto key.
    let key: OpaquePointer
    /// The signer, for a key made from its private key.
    let signer: Curve25519.Signing.PrivateKey?
    /// The verifier (swift-crypto's, from ``publicKey``).
    let verifier: Curve25519.Signing.PublicKey
    /// The 32-byte public key (a JWK's `x`).
    public let publicKey: [UInt8]
    /// The private key, for writing a key file of this package; never log it.
    package let privateKey: [UInt8]?

    /// A key pair from its 32-byte private key (a JWK's `d`, or a derived seed).
    public init(privateKey: [UInt8]) throws(SignatureError) {
        guard privateKey.count == 32, let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, privateKey, 32)
        else {
            throw .key("an Ed25519 private key is 32 bytes")
        }
        guard let signer = try? Curve25519.Signing.PrivateKey(rawRepresentation: privateKey) else {
            EVP_PKEY_free(key)
            throw .key("an Ed25519 private key is 32 bytes")
        }
        self.key = key
        self.signer = signer
        self.privateKey = privateKey
        var length = 32
        var publicBytes = [UInt8](repeating: 0, count: 32)
        EVP_PKEY_get_raw_public_key(key, &publicBytes, &length)
        self.publicKey = publicBytes
        self.verifier = signer.publicKey
    }

    /// A verify-only key from its 32-byte public key.
    public init(publicKey: [UInt8]) throws(SignatureError) {
        guard publicKey.count == 32, let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, publicKey, 32) else {
            throw .key("an Ed25519 public key is 32 bytes")
        }
        guard let verifier = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else {
            EVP_PKEY_free(key)
            throw .key("an Ed25519 public key is 32 bytes")
        }
        self.verifier = verifier
        self.key = key
        self.signer = nil
        self.publicKey = publicKey
        self.privateKey = nil
    }

    /// A new random key pair.
    public static func generate() throws(SignatureError) -> Ed25519Key {
        var bytes = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&bytes, 32) == 1 else { throw .key("RAND_bytes failed") }
        return try Ed25519Key(privateKey: bytes)
    }

    deinit {
        EVP_PKEY_free(key)
    }

    /// The 64-byte signature of `message`.
    public func sign(_ message: [UInt8]) throws(SignatureError) -> [UInt8] {
        guard let signer else { throw .key("this key cannot sign") }
        guard let signature = try? signer.signature(for: message), signature.count == 64 else {
            throw .key("Ed25519 signing failed")
        }
        return Array(signature)
    }

    /// The same signature made by OpenSSL: the reference ``sign(_:)`` is held to.
    package func signWithOpenSSL(_ message: [UInt8]) throws(SignatureError) -> [UInt8] {
        guard privateKey != nil, let context = EVP_MD_CTX_new() else { throw .key("this key cannot sign") }
        defer { EVP_MD_CTX_free(context) }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1,
            EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64
        else { throw .key("Ed25519 signing failed") }
        return signature
    }

    /// Whether `signature` is this key's signature of `message` (BoringSSL's Ed25519, as for
    /// signing: about a third of OpenSSL 3.0's cost; ``verifyWithOpenSSL(_:of:)`` is the
    /// reference `Ed25519SignerTests` holds it to, forged and malformed signatures included).
    public func verify(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        return verifier.isValidSignature(signature, for: message)
    }

    /// The same verdict from OpenSSL: the reference ``verify(_:of:)`` is held to.
    package func verifyWithOpenSSL(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        guard signature.count == 64, let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        return EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1
            && EVP_DigestVerify(context, signature, 64, message, message.count) == 1
    }
}

/// Why a key could not be made or used. Messages never hold key material.
public enum SignatureError: Error, Hashable, Sendable, CustomStringConvertible {
    case key(String)

    public var description: String {
        switch self {
        case .key(let detail): return detail
        }
    }
}
