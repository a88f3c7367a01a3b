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
        var nonce = [UInt8](repeating: 0, count: nonceSize)
        guard RAND_bytes(&nonce, Int32(nonceSize)) == 1 else { throw .crypto("RAND_bytes failed") }
        guard let context = EVP_CIPHER_CTX_new() else { throw .crypto("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(context) }
        var output = nonce + [UInt8](repeating: 0, count: plaintext.count + tagSize)
        var length: Int32 = 0
        let ok = output.withUnsafeMutableBufferPointer { out -> Bool in
            let body = out.baseAddress! + nonceSize
            guard EVP_EncryptInit_ex(context, cipher, nil, key, nonce) == 1,
                associatedData.isEmpty
                    || EVP_EncryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)) == 1,
                plaintext.isEmpty || EVP_EncryptUpdate(context, body, &length, plaintext, Int32(plaintext.count)) == 1,
                EVP_EncryptFinal_ex(context, body + plaintext.count, &length) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagSize), body + plaintext.count) == 1
            else { return false }
            return true
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
        guard let context = EVP_CIPHER_CTX_new() else { throw .crypto("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(context) }
        let base = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let count = sealed.count - overhead
        var plaintext = [UInt8](repeating: 0, count: max(count, 1))  // never a nil base address
        var length: Int32 = 0
        var tag = [UInt8](UnsafeBufferPointer(start: base + nonceSize + count, count: tagSize))
        let ok = plaintext.withUnsafeMutableBufferPointer { out -> Bool in
            guard EVP_DecryptInit_ex(context, cipher, nil, key, base) == 1,
                associatedData.isEmpty
                    || EVP_DecryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)) == 1,
                count == 0 || EVP_DecryptUpdate(context, out.baseAddress, &length, base + nonceSize, Int32(count)) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagSize), &tag) == 1,
                EVP_DecryptFinal_ex(context, out.baseAddress! + count, &length) == 1
            else { return false }
            return true
        }
        guard ok else { throw .tampered }
        return Array(plaintext.prefix(count))
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

    public var description: String {
        switch self {
        case .crypto(let detail): return "cryptography failed: \(detail)"
        case .tampered: return "sealed personal data does not open: it was changed or moved"
        case .malformedKey(let detail), .missingKey(let detail), .wrongKey(let detail), .keyStore(let detail):
            return detail
        }
    }
}
