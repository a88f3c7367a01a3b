import COpenSSL
import EventLog

/// SHA-256 of a token's secret part: all the service ever stores of a token.
///
/// Equality is constant-time (`CRYPTO_memcmp`), so comparing a presented token with a stored
/// one reveals nothing through timing about how many bytes matched. The 32 bytes are held
/// inline (no heap allocation), since a fold over millions of events holds millions of them.
public struct TokenHash: Hashable, Sendable, CustomStringConvertible {
    private var words: (UInt64, UInt64, UInt64, UInt64)

    /// Wraps a stored digest; `nil` unless it is 32 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        words = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { $0.copyBytes(from: bytes) }
    }

    /// Wraps 32 stored digest bytes read in place (the caller has checked the count).
    public init(digest: UnsafeRawBufferPointer) {
        precondition(digest.count == 32)
        words = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: digest) }
    }

    /// The digest of `secret` (read in place when its bytes are contiguous, as a `String`'s are).
    public init(of secret: some Collection<UInt8>) {
        words = (0, 0, 0, 0)
        let digested: Void? = secret.withContiguousStorageIfAvailable { Self.digest($0, into: &words) }
        if digested == nil { Array(secret).withUnsafeBufferPointer { Self.digest($0, into: &words) } }
    }

    private static func digest(_ input: UnsafeBufferPointer<UInt8>, into words: inout (UInt64, UInt64, UInt64, UInt64))
    {
        withUnsafeMutableBytes(of: &words) { out in
            SHA256Digest.digest(
                input.baseAddress, count: input.count, into: out.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Appends the 32 bytes to `writer`, without an intermediate array.
    public func write(to writer: inout ByteWriter) {
        withUnsafeBytes(of: words) { writer.write(raw: $0) }
    }

    /// The 32 bytes.
    public var bytes: [UInt8] { withUnsafeBytes(of: words) { Array($0) } }

    public static func == (lhs: TokenHash, rhs: TokenHash) -> Bool {
        withUnsafeBytes(of: lhs.words) { left in
            withUnsafeBytes(of: rhs.words) { right in CRYPTO_memcmp(left.baseAddress, right.baseAddress, 32) == 0 }
        }
    }

    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes(of: words) { hasher.combine(bytes: $0) }
    }

    /// Hex: what audit output shows of a token.
    public var description: String { Hex.encode(bytes) }
}
