import COpenSSL

/// AES-256-GCM through OpenSSL's EVP interface: `nonce (12) ‖ ciphertext ‖ tag (16)`.
///
/// The associated data is authenticated but not stored: opening with other associated data
/// (another stream, version or event type) fails, so a sealed field cannot be moved.
public enum AESGCM {
    /// The cipher fetched once: passing `EVP_aes_256_gcm()` to every init makes OpenSSL 3
    /// look the implementation up again each time, which costs more than the encryption of a
    /// short field.
    nonisolated(unsafe) static let cipher: OpaquePointer = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil)!

    public static let nonceSize = 12
    public static let tagSize = 16
    public static let overhead = nonceSize + tagSize

    /// Seals `plaintext` under `key` (32 bytes) with a fresh random nonce.
    public static func seal(
        _ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8]
    ) throws(DataProtectionError) -> [UInt8] {
        precondition(key.count == 32)
        let context = try freshContext(encrypting: true)
        defer { EVP_CIPHER_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: plaintext.count + overhead)
        let ok = output.withUnsafeMutableBufferPointer { out in
            guard RAND_bytes(out.baseAddress, Int32(nonceSize)) == 1 else { return false }
            return plaintext.withUnsafeBytes { plain in
                key.withUnsafeBytes { key in
                    associatedData.withUnsafeBytes { ad in
                        GCMSteps.seal(
                            context, key: key, nonce: out.baseAddress!, associatedData: ad, plaintext: plain,
                            into: out.baseAddress! + nonceSize)
                    }
                }
            }
        }
        guard ok else { throw .crypto("AES-256-GCM encryption failed") }
        return output
    }

    /// Opens what ``seal(_:key:associatedData:)`` produced; throws if anything was changed.
    public static func open(
        _ sealed: UnsafeRawBufferPointer, key: [UInt8], associatedData: [UInt8]
    ) throws(DataProtectionError) -> [UInt8] {
        precondition(key.count == 32)
        guard sealed.count >= overhead else { throw .tampered }
        let context = try freshContext(encrypting: false)
        defer { EVP_CIPHER_CTX_free(context) }
        let count = sealed.count - overhead
        var plaintext = [UInt8](repeating: 0, count: max(count, 1))  // never a nil base address
        let ok = plaintext.withUnsafeMutableBufferPointer { out in
            key.withUnsafeBytes { key in
                associatedData.withUnsafeBytes { ad in
                    GCMSteps.open(context, key: key, sealed: sealed, associatedData: ad, into: out.baseAddress!)
                }
            }
        }
        guard ok else { throw .tampered }
        return Array(plaintext.prefix(count))
    }

    /// A new EVP context with the cipher set, for one operation; the caller frees it.
    static func freshContext(encrypting: Bool) throws(DataProtectionError) -> OpaquePointer {
        guard let context = EVP_CIPHER_CTX_new() else { throw .crypto("EVP_CIPHER_CTX_new failed") }
        let ok =
            encrypting
            ? EVP_EncryptInit_ex(context, cipher, nil, nil, nil) == 1
            : EVP_DecryptInit_ex(context, cipher, nil, nil, nil) == 1
        guard ok else {
            EVP_CIPHER_CTX_free(context)
            throw .crypto("AES-256-GCM initialisation failed")
        }
        return context
    }
}

/// What went wrong protecting personal data, said so that an operator can act.
public enum DataProtectionError: Error, Hashable, Sendable, CustomStringConvertible {
    case crypto(String)
    /// Sealed bytes that do not open: changed, or sealed for another place.
    case tampered
    case malformedKey(String)
    case missingKey(String)
    case wrongKey(String)
    case keyStore(String)
    /// The key store could not be written for want of space; nothing of the write counts.
    case storageFull(String)
    /// A data directory or secret file that others may change (see ``SecretFile``).
    case unsafePermissions(String)
    /// The key is not in memory and the look-up may not wait for the store's server (see
    /// ``DataKeyLookup``).
    case keyNotAtHand

    public var description: String {
        switch self {
        case .crypto(let detail): return "cryptography failed: \(detail)"
        case .tampered: return "sealed personal data does not open: it was changed or moved"
        case .keyNotAtHand: return "the data key is not in memory, and this look-up may not wait for the key store"
        case .malformedKey(let detail), .missingKey(let detail), .wrongKey(let detail), .keyStore(let detail),
            .storageFull(let detail), .unsafePermissions(let detail):
            return detail
        }
    }
}
