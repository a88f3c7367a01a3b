import COpenSSL
import Foundation
import Synchronization

/// An ECDSA key on P-256 (secp256r1) with SHA-256, through OpenSSL's EVP interface: access
/// tokens sign with it as JWS `ES256` (RFC 7518 section 3.4).
///
/// Rules:
/// - A signature is JWS-shaped: r then s, each 32 bytes big-endian (64 bytes), never DER.
///   Verification refuses any other length, and r or s outside 1...n-1 (OpenSSL's check).
/// - Only P-256 keys: a private or public key of another curve or kind is refused on load.
/// - The private key is kept as SEC 1 `ECPrivateKey` DER (RFC 5915), the form key files and
///   the shared key store hold.
public final class P256Key: @unchecked Sendable {
    // EVP_PKEY is safe to share for signing and verifying from several threads.
    let key: OpaquePointer
    /// The public point, uncompressed: 0x04, then x and y (32 bytes each).
    public let publicKey: [UInt8]
    /// The private key as SEC 1 DER, for writing a key file of this package; never log it.
    package let privateKey: [UInt8]?
    /// The same private key as an `EC_KEY`, for signing with a nonce from ``nonces``; nil for a
    /// verify-only key.
    private let signingKey: OpaquePointer?
    /// Where signatures take a nonce made ahead of time (``P256Nonces``); nil: each signature
    /// makes its own.
    private let nonces: P256Nonces?

    /// The SubjectPublicKeyInfo DER of a P-256 key up to its point: id-ecPublicKey, prime256v1,
    /// a BIT STRING of 66 bytes.
    static let publicKeyInfoPrefix: [UInt8] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A, 0x86, 0x48,
        0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ]

    /// The JWK's `x` coordinate (32 bytes).
    public var x: [UInt8] { Array(publicKey[1..<33]) }
    /// The JWK's `y` coordinate (32 bytes).
    public var y: [UInt8] { Array(publicKey[33..<65]) }

    /// A key pair from its private key in DER: SEC 1 `ECPrivateKey` or PKCS #8. Its signatures
    /// take their nonces from `nonces` when it has one ready.
    public init(privateKey der: [UInt8], nonces: P256Nonces? = .shared) throws(SignatureError) {
        let loaded: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_AutoPrivateKey(nil, &cursor, buffer.count)
        }
        guard let loaded else { throw .key("not a private key in DER") }
        guard let point = Self.point(of: loaded) else {
            EVP_PKEY_free(loaded)
            throw .key("not a P-256 key")
        }
        var length = i2d_PrivateKey(loaded, nil)
        var encoded = [UInt8](repeating: 0, count: max(Int(length), 0))
        length = encoded.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return i2d_PrivateKey(loaded, &cursor)
        }
        guard length > 0, Int(length) == encoded.count, let signingKey = authlog_ec_key(loaded) else {
            EVP_PKEY_free(loaded)
            throw .key("P-256 key could not be encoded")
        }
        key = loaded
        publicKey = point
        privateKey = encoded
        self.signingKey = signingKey
        self.nonces = nonces
    }

    /// A verify-only key from its uncompressed point (0x04, x, y), which must lie on P-256.
    public init(publicKey point: [UInt8]) throws(SignatureError) {
        guard point.count == 65, point[0] == 0x04 else {
            throw .key("a P-256 public key is 65 bytes, uncompressed")
        }
        let info = Self.publicKeyInfoPrefix + point
        let loaded: OpaquePointer? = info.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let loaded else { throw .key("not a point on P-256") }
        key = loaded
        publicKey = point
        privateKey = nil
        signingKey = nil
        nonces = nil
    }

    /// A verify-only key from coordinates (a JWK's `x` and `y`).
    public convenience init(x: [UInt8], y: [UInt8]) throws(SignatureError) {
        guard x.count == 32, y.count == 32 else { throw .key("P-256 coordinates are 32 bytes each") }
        try self.init(publicKey: [0x04] + x + y)
    }

    /// A new random key pair, signing with nonces from `nonces` when it has one ready.
    public static func generate(nonces: P256Nonces? = .shared) throws(SignatureError) -> P256Key {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nil) else { throw .key("no EC context") }
        defer { EVP_PKEY_CTX_free(context) }
        var generated: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1,
            EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context, NID_X9_62_prime256v1) == 1,
            EVP_PKEY_keygen(context, &generated) == 1, let generated
        else { throw .key("P-256 key generation failed") }
        defer { EVP_PKEY_free(generated) }
        var der = [UInt8](repeating: 0, count: Int(max(i2d_PrivateKey(generated, nil), 0)))
        defer { der.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
        let written = der.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return i2d_PrivateKey(generated, &cursor)
        }
        guard written > 0 else { throw .key("P-256 key could not be encoded") }
        return try P256Key(privateKey: der, nonces: nonces)
    }

    deinit {
        if let signingKey { authlog_ec_key_free(signingKey) }
        signers.withLock { contexts in
            for context in contexts { EVP_PKEY_CTX_free(context.pointer) }
        }
        EVP_PKEY_free(key)
    }

    /// The uncompressed point of a P-256 key, or nil for any other key.
    static func point(of key: OpaquePointer) -> [UInt8]? {
        let length = i2d_PUBKEY(key, nil)
        guard length == 91 else { return nil }
        var info = [UInt8](repeating: 0, count: 91)
        let written = info.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return i2d_PUBKEY(key, &cursor)
        }
        guard written == 91, Array(info[0..<26]) == publicKeyInfoPrefix else { return nil }
        return Array(info[26...])
    }

    /// The JWS signature (r || s, 64 bytes) of `message`, hashed with SHA-256.
    ///
    /// The digest is taken with an algorithm fetched once. With a nonce ready in ``nonces``,
    /// only the signature's last step is left to do here. Otherwise the digest is signed with
    /// a context on which `EVP_PKEY_sign_init` already ran (OpenSSL allows many signatures per
    /// init). OpenSSL 3
    /// otherwise fetches the digest and the signature algorithm and exports the key on every
    /// init, which cost about as much as the signature (docs/performance.md). A context is
    /// used by one thread at a time: taken from ``signers`` and put back after.
    public func sign(_ message: [UInt8]) throws(SignatureError) -> [UInt8] {
        guard privateKey != nil else { throw .key("this key cannot sign") }
        var digest = [UInt8](repeating: 0, count: 32)
        var digestLength: UInt32 = 0
        guard EVP_Digest(message, message.count, &digest, &digestLength, Self.sha256, nil) == 1, digestLength == 32
        else { throw .key("P-256 signing failed") }
        if let signingKey, let nonce = nonces?.take(),
            let signature = Self.sign(digest: digest, key: signingKey, nonce: nonce)
        {
            return signature
        }
        guard let context = signers.withLock({ $0.popLast()?.pointer }) ?? makeSigner() else {
            throw .key("P-256 signing failed")
        }
        var der = [UInt8](repeating: 0, count: 80)
        var length = der.count
        let signed = EVP_PKEY_sign(context, &der, &length, digest, 32) == 1
        signers.withLock { $0.append(Signer(pointer: context)) }
        guard signed, let signature = Self.jwsSignature(fromDER: Array(der[0..<length])) else {
            throw .key("P-256 signing failed")
        }
        return signature
    }

    /// The JWS signature of a SHA-256 `digest` with a nonce made ahead of time; nil when
    /// OpenSSL wants another nonce (once in about 2^256 signatures) or fails.
    /// The nonce ends here, wiped, whatever the outcome.
    private static func sign(digest: [UInt8], key: OpaquePointer, nonce: consuming P256Nonces.Nonce) -> [UInt8]? {
        guard let signature = nonce.sign(digest: digest, key: key) else {
            ERR_clear_error()
            return nil
        }
        defer { ECDSA_SIG_free(signature) }
        return jwsSignature(of: signature)
    }

    /// An `ECDSA_SIG`'s r and s as JWS r || s; nil if either is longer than 32 bytes.
    private static func jwsSignature(of signature: OpaquePointer) -> [UInt8]? {
        var raw = [UInt8](repeating: 0, count: 64)
        let written = raw.withUnsafeMutableBufferPointer { buffer in
            BN_bn2binpad(ECDSA_SIG_get0_r(signature), buffer.baseAddress, 32)
                + BN_bn2binpad(ECDSA_SIG_get0_s(signature), buffer.baseAddress! + 32, 32)
        }
        return written == 64 ? raw : nil
    }

    /// SHA-256, fetched once for the life of the process (immutable, shared by every thread).
    nonisolated(unsafe) private static let sha256: OpaquePointer = EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256()!

    /// Signing contexts ready for `EVP_PKEY_sign`, each used by one signer at a time; there are
    /// as many as signatures were ever made at once.
    private let signers = Mutex<[Signer]>([])
    /// An `EVP_PKEY_CTX`, handed from thread to thread through ``signers`` only.
    private struct Signer: @unchecked Sendable { let pointer: OpaquePointer }

    private func makeSigner() -> OpaquePointer? {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else { return nil }
        guard EVP_PKEY_sign_init(context) == 1 else {
            EVP_PKEY_CTX_free(context)
            return nil
        }
        return context
    }

    /// Whether `signature` (r || s, 64 bytes) signs `message` with this key.
    public func verify(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        guard signature.count == 64, let der = Self.derSignature(fromJWS: signature),
            let context = EVP_MD_CTX_new()
        else { return false }
        defer { EVP_MD_CTX_free(context) }
        return EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1
            && EVP_DigestVerify(context, der, der.count, message, message.count) == 1
    }

    /// An ECDSA signature in DER (what OpenSSL and X.509 write) as JWS r || s; nil if it is
    /// not one DER signature with r and s of at most 32 bytes.
    public static func jwsSignature(fromDER der: [UInt8]) -> [UInt8]? {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            let signature = d2i_ECDSA_SIG(nil, &cursor, buffer.count)
            // Bytes after the signature: not one DER signature.
            if signature != nil, cursor != buffer.baseAddress.map({ $0 + buffer.count }) {
                ECDSA_SIG_free(signature)
                return nil
            }
            return signature
        }
        guard let parsed else { return nil }
        defer { ECDSA_SIG_free(parsed) }
        return jwsSignature(of: parsed)
    }

    /// A JWS signature (r || s, 64 bytes) as DER, for OpenSSL's verification.
    public static func derSignature(fromJWS signature: [UInt8]) -> [UInt8]? {
        guard signature.count == 64, let parsed = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(parsed) }
        let r = signature.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, nil) }
        let s = signature.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + 32, 32, nil) }
        guard let r, let s, ECDSA_SIG_set0(parsed, r, s) == 1 else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        let length = i2d_ECDSA_SIG(parsed, nil)
        guard length > 0 else { return nil }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return i2d_ECDSA_SIG(parsed, &cursor)
        }
        return written == length ? der : nil
    }
}
