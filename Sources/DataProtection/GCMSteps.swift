import COpenSSL

/// The OpenSSL EVP steps of one AES-256-GCM seal or open, in one place for the one-shot
/// functions (``AESGCM``), a reused context (``AESGCMContext``) and a keyed opener.
///
/// `context` already has its cipher set. A `key` of `nil` keeps the key scheduled in the
/// context by an earlier step; the nonce is always set anew. The layout is ``AESGCM``'s:
/// `nonce (12) ‖ ciphertext ‖ tag (16)`.
enum GCMSteps {
    /// Encrypts `plaintext` under `nonce` into `output`: the ciphertext, then the tag
    /// (`plaintext.count + AESGCM.tagSize` bytes).
    static func seal(
        _ context: OpaquePointer, key: UnsafeRawBufferPointer?, nonce: UnsafePointer<UInt8>,
        associatedData: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutablePointer<UInt8>
    ) -> Bool {
        var length: Int32 = 0
        let tag = output + plaintext.count
        return EVP_EncryptInit_ex(context, nil, nil, evpBytes(key), nonce) == 1
            && (associatedData.isEmpty
                || EVP_EncryptUpdate(context, nil, &length, evpBytes(associatedData), Int32(associatedData.count)) == 1)
            && (plaintext.isEmpty
                || EVP_EncryptUpdate(context, output, &length, evpBytes(plaintext), Int32(plaintext.count)) == 1)
            && EVP_EncryptFinal_ex(context, tag, &length) == 1
            && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(AESGCM.tagSize), tag) == 1
    }

    /// Opens `sealed` (at least `AESGCM.overhead` bytes) into `output`, which holds
    /// `sealed.count - AESGCM.overhead` bytes (when that is 0, any writable byte: the final
    /// step may be handed it). `false` if the tag does not match: anything was changed.
    static func open(
        _ context: OpaquePointer, key: UnsafeRawBufferPointer?, sealed: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>
    ) -> Bool {
        precondition(sealed.count >= AESGCM.overhead)
        let nonce = evpBytes(sealed)!
        let count = sealed.count - AESGCM.overhead
        // OpenSSL copies the expected tag in; it never writes through this pointer.
        let tag = UnsafeMutableRawPointer(mutating: nonce + AESGCM.nonceSize + count)
        var length: Int32 = 0
        return EVP_DecryptInit_ex(context, nil, nil, evpBytes(key), nonce) == 1
            && (associatedData.isEmpty
                || EVP_DecryptUpdate(context, nil, &length, evpBytes(associatedData), Int32(associatedData.count)) == 1)
            && (count == 0
                || EVP_DecryptUpdate(context, output, &length, nonce + AESGCM.nonceSize, Int32(count)) == 1)
            && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(AESGCM.tagSize), tag) == 1
            && EVP_DecryptFinal_ex(context, output + count, &length) == 1
    }
}

/// The bytes of a non-empty buffer as OpenSSL takes them (`nil` for an empty or absent one).
@inline(__always)
func evpBytes(_ buffer: UnsafeRawBufferPointer?) -> UnsafePointer<UInt8>? {
    buffer?.baseAddress?.assumingMemoryBound(to: UInt8.self)
}
