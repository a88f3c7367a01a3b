import COpenSSL

/// SHA-256 on OpenSSL: the one path every digest of the project takes (chain links, token and
/// claim hashes), through one algorithm fetched for the life of the process.
///
/// OpenSSL 3's one-shot `SHA256()` looks the digest up in the provider tables (under a lock,
/// with allocations) on every call, which for a few hundred bytes costs more than the
/// hashing; the fetched `EVP_MD` skips that and, being immutable, is shared by every thread.
public enum SHA256Digest {
    /// The fetched algorithm (the built-in one if the fetch fails), for a caller that keeps an
    /// `EVP_MD_CTX` of its own across many digests (the log's writer).
    public static var algorithm: OpaquePointer { Fetched.shared.md }

    /// SHA-256 of `count` bytes at `input` into the 32 bytes at `output`.
    public static func digest(_ input: UnsafeRawPointer?, count: Int, into output: UnsafeMutablePointer<UInt8>) {
        var length: UInt32 = 0
        let ok = EVP_Digest(input, count, output, &length, algorithm, nil) == 1 && length == 32
        // Hashing in memory fails only when OpenSSL cannot allocate: nothing sensible can follow.
        precondition(ok, "SHA-256 failed")
    }

    private final class Fetched: Sendable {
        static let shared = Fetched()
        nonisolated(unsafe) let md: OpaquePointer = EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256()!
    }
}
