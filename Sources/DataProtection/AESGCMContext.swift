import COpenSSL

/// AES-256-GCM for one thread doing many operations in a row (a rebuild, a bulk key load):
/// the same format as ``AESGCM``, with OpenSSL's contexts allocated once instead of once per
/// field and nonces drawn from `RAND_bytes` a few thousand at a time.
///
/// Not thread-safe: give each thread its own. Keys and associated data are borrowed bytes,
/// so a caller that keeps keys in one flat buffer passes slices of it without copying.
public final class AESGCMContext {
    private let sealing: OpaquePointer
    private let opening: OpaquePointer
    private var nonces = [UInt8](repeating: 0, count: 12 * 4_096)
    private var nextNonce: Int

    public init() throws(DataProtectionError) {
        guard let sealing = EVP_CIPHER_CTX_new() else { throw .crypto("EVP_CIPHER_CTX_new failed") }
        guard let opening = EVP_CIPHER_CTX_new() else {
            EVP_CIPHER_CTX_free(sealing)
            throw .crypto("EVP_CIPHER_CTX_new failed")
        }
        self.sealing = sealing
        self.opening = opening
        nextNonce = nonces.count
        // The cipher is set once; each operation then sets only its key and nonce.
        guard EVP_EncryptInit_ex(sealing, AESGCM.cipher, nil, nil, nil) == 1,
            EVP_DecryptInit_ex(opening, AESGCM.cipher, nil, nil, nil) == 1
        else { throw .crypto("AES-256-GCM initialisation failed") }
    }

    deinit {
        EVP_CIPHER_CTX_free(sealing)
        EVP_CIPHER_CTX_free(opening)
        nonces.withUnsafeMutableBytes { cleanse($0) }
    }

    /// Seals `plaintext` under `key` (32 bytes) with a fresh random nonce.
    public func seal(
        _ plaintext: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer
    ) throws(DataProtectionError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: plaintext.count + AESGCM.overhead)
        var failure: DataProtectionError?
        output.withUnsafeMutableBytes { out in
            do throws(DataProtectionError) {
                try seal(plaintext, key: key, associatedData: associatedData, into: out)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return output
    }

    /// Seals into `output`, which must hold exactly `plaintext.count + AESGCM.overhead` bytes:
    /// for a caller that lays many sealed values out in one buffer.
    public func seal(
        _ plaintext: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(DataProtectionError) {
        precondition(key.count == 32 && output.count == plaintext.count + AESGCM.overhead)
        if nextNonce == nonces.count {
            guard RAND_bytes(&nonces, Int32(nonces.count)) == 1 else { throw .crypto("RAND_bytes failed") }
            nextNonce = 0
        }
        let nonce = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        nonces.withUnsafeBytes {
            nonce.update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self) + nextNonce, count: AESGCM.nonceSize)
        }
        nextNonce += AESGCM.nonceSize
        let body = nonce + AESGCM.nonceSize
        var length: Int32 = 0
        let context = sealing
        let ok =
            EVP_EncryptInit_ex(context, nil, nil, bytes(key), nonce) == 1
            && (associatedData.isEmpty
                || EVP_EncryptUpdate(context, nil, &length, bytes(associatedData), Int32(associatedData.count)) == 1)
            && (plaintext.isEmpty
                || EVP_EncryptUpdate(context, body, &length, bytes(plaintext), Int32(plaintext.count)) == 1)
            && EVP_EncryptFinal_ex(context, body + plaintext.count, &length) == 1
            && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(AESGCM.tagSize), body + plaintext.count) == 1
        guard ok else { throw .crypto("AES-256-GCM encryption failed") }
    }

    /// Opens what a seal produced; throws ``DataProtectionError/tampered`` if anything was changed.
    public func open(
        _ sealed: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer
    ) throws(DataProtectionError) -> [UInt8] {
        precondition(key.count == 32)
        guard sealed.count >= AESGCM.overhead else { throw .tampered }
        let base = bytes(sealed)!
        let count = sealed.count - AESGCM.overhead
        var plaintext = [UInt8](repeating: 0, count: max(count, 1))  // never a nil base address
        let context = opening
        let ok = plaintext.withUnsafeMutableBufferPointer { out -> Bool in
            var length: Int32 = 0
            let tag = UnsafeMutableRawPointer(mutating: base + AESGCM.nonceSize + count)
            return EVP_DecryptInit_ex(context, nil, nil, bytes(key), base) == 1
                && (associatedData.isEmpty
                    || EVP_DecryptUpdate(context, nil, &length, bytes(associatedData), Int32(associatedData.count)) == 1)
                && (count == 0
                    || EVP_DecryptUpdate(context, out.baseAddress, &length, base + AESGCM.nonceSize, Int32(count)) == 1)
                && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(AESGCM.tagSize), tag) == 1
                && EVP_DecryptFinal_ex(context, out.baseAddress! + count, &length) == 1
        }
        guard ok else { throw .tampered }
        if count == 0 { return [] }
        return plaintext
    }
}

extension AESGCMContext {
    /// Calls `body` with an opener for many values sealed under one `key` (a key store's
    /// slots under the key-encryption key): the key is scheduled once, and each value then
    /// sets only its nonce, instead of a key schedule per value. Not for use after `body`.
    public func withOpener<Result>(
        key: UnsafeRawBufferPointer, _ body: (KeyedOpener) throws -> Result
    ) throws -> Result {
        precondition(key.count == 32)
        guard EVP_DecryptInit_ex(opening, nil, nil, bytes(key), nil) == 1 else {
            throw DataProtectionError.crypto("AES-256-GCM key setup failed")
        }
        return try body(KeyedOpener(context: opening))
    }

    /// Opens values under the key given to ``AESGCMContext/withOpener(key:_:)``.
    public struct KeyedOpener {
        fileprivate let context: OpaquePointer

        /// Opens `sealed` into `output`, which must hold exactly `sealed.count -
        /// AESGCM.overhead` bytes; throws ``DataProtectionError/tampered`` if anything was changed.
        public func open(
            _ sealed: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
            into output: UnsafeMutableRawBufferPointer
        ) throws(DataProtectionError) {
            guard sealed.count >= AESGCM.overhead, output.count == sealed.count - AESGCM.overhead else {
                throw .tampered
            }
            let base = bytes(sealed)!
            let count = output.count
            var length: Int32 = 0
            var spare: UInt8 = 0  // where the final step may write, when the output is empty
            let tag = UnsafeMutableRawPointer(mutating: base + AESGCM.nonceSize + count)
            let ok = withUnsafeMutablePointer(to: &spare) { spare in
                let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? spare
                return EVP_DecryptInit_ex(context, nil, nil, nil, base) == 1
                    && (associatedData.isEmpty
                        || EVP_DecryptUpdate(context, nil, &length, bytes(associatedData), Int32(associatedData.count))
                            == 1)
                    && (count == 0
                        || EVP_DecryptUpdate(context, out, &length, base + AESGCM.nonceSize, Int32(count)) == 1)
                    && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(AESGCM.tagSize), tag) == 1
                    && EVP_DecryptFinal_ex(context, out + count, &length) == 1
            }
            guard ok else { throw .tampered }
        }
    }
}

/// The bytes of a non-empty buffer as OpenSSL takes them (`nil` for an empty one).
@inline(__always)
private func bytes(_ buffer: UnsafeRawBufferPointer) -> UnsafePointer<UInt8>? {
    buffer.baseAddress?.assumingMemoryBound(to: UInt8.self)
}

/// Overwrites `buffer` with zeros in a way the optimiser keeps: for key material about to be freed.
public func cleanse(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress else { return }
    OPENSSL_cleanse(base, buffer.count)
}
