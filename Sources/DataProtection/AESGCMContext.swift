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
        // The cipher is set once; each operation then sets only its key and nonce.
        sealing = try AESGCM.freshContext(encrypting: true)
        do {
            opening = try AESGCM.freshContext(encrypting: false)
        } catch {
            EVP_CIPHER_CTX_free(sealing)
            throw error
        }
        nextNonce = nonces.count
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
        let ok = GCMSteps.seal(
            sealing, key: key, nonce: nonce, associatedData: associatedData, plaintext: plaintext,
            into: nonce + AESGCM.nonceSize)
        guard ok else { throw .crypto("AES-256-GCM encryption failed") }
    }

    /// Opens what a seal produced; throws ``DataProtectionError/tampered`` if anything was changed.
    public func open(
        _ sealed: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer
    ) throws(DataProtectionError) -> [UInt8] {
        precondition(key.count == 32)
        guard sealed.count >= AESGCM.overhead else { throw .tampered }
        let count = sealed.count - AESGCM.overhead
        var plaintext = [UInt8](repeating: 0, count: max(count, 1))  // never a nil base address
        let ok = plaintext.withUnsafeMutableBufferPointer {
            GCMSteps.open(opening, key: key, sealed: sealed, associatedData: associatedData, into: $0.baseAddress!)
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
        guard EVP_DecryptInit_ex(opening, nil, nil, evpBytes(key), nil) == 1 else {
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
            var spare: UInt8 = 0  // where the final step may write, when the output is empty
            let ok = withUnsafeMutablePointer(to: &spare) { spare in
                GCMSteps.open(
                    context, key: nil, sealed: sealed, associatedData: associatedData,
                    into: output.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? spare)
            }
            guard ok else { throw .tampered }
        }
    }
}

/// Overwrites `buffer` with zeros in a way the optimiser keeps: for key material about to be freed.
public func cleanse(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress else { return }
    OPENSSL_cleanse(base, buffer.count)
}
