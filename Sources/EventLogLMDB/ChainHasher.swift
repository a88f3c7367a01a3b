import COpenSSL
import EventLog

/// Computes the log's chain links (``ChainHash/next(canonicalBytes:scratch:)``) for one
/// writer, many in a row: the digest is fetched once and one context is reused.
///
/// It keeps one `EVP_MD_CTX` over ``SHA256Digest/algorithm`` (fetched once) and feeds the
/// previous hash and the bytes to it without copying them together. The result is the same:
/// SHA-256 of the previous hash, then the bytes.
///
/// Not thread-safe: one per write transaction.
final class ChainHasher {
    private let context: OpaquePointer
    /// The previous link, then the digest: reused so that no call allocates.
    private let link = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)

    init() {
        context = EVP_MD_CTX_new()!
    }

    deinit {
        EVP_MD_CTX_free(context)
        link.deallocate()
    }

    /// The link after `previous` for an envelope with `canonical` bytes.
    func next(after previous: ChainHash, canonical: UnsafeRawBufferPointer) -> ChainHash {
        previous.store(to: link)
        var length: UInt32 = 0
        let ok =
            EVP_DigestInit_ex2(context, SHA256Digest.algorithm, nil) == 1
            && EVP_DigestUpdate(context, link, 32) == 1
            && (canonical.isEmpty || EVP_DigestUpdate(context, canonical.baseAddress, canonical.count) == 1)
            && EVP_DigestFinal_ex(context, link.advanced(by: 32).assumingMemoryBound(to: UInt8.self), &length) == 1
            && length == 32
        // Hashing in memory fails only when OpenSSL cannot allocate: nothing sensible can follow.
        precondition(ok, "SHA-256 failed")
        return ChainHash(bytes: UnsafeRawBufferPointer(start: link.advanced(by: 32), count: 32))
    }
}
