import COpenSSL

/// A SHA-256 value in the log's hash chain.
///
/// `hash(n) = SHA-256(hash(n-1) || canonical bytes of envelope n)`, with `hash(0)` all zeros.
public struct ChainHash: Hashable, Sendable, CustomStringConvertible {
    // Four words in memory order: the digest's bytes as they are, no byte swapping.
    var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// The link before the first event.
    public static let genesis = ChainHash(w0: 0, w1: 0, w2: 0, w3: 0)

    init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    /// Reads 32 bytes.
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= 32)
        w0 = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        w1 = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        w2 = bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        w3 = bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
    }

    /// Parses 64 hex digits; `nil` for anything else.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        for index in 0..<32 {
            guard let high = Self.nibble(digits[2 * index]), let low = Self.nibble(digits[2 * index + 1]) else {
                return nil
            }
            bytes[index] = high << 4 | low
        }
        self = bytes.withUnsafeBytes { ChainHash(bytes: $0) }
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Writes the 32 bytes to `destination`.
    public func store(to destination: UnsafeMutableRawPointer) {
        destination.storeBytes(of: w0, toByteOffset: 0, as: UInt64.self)
        destination.storeBytes(of: w1, toByteOffset: 8, as: UInt64.self)
        destination.storeBytes(of: w2, toByteOffset: 16, as: UInt64.self)
        destination.storeBytes(of: w3, toByteOffset: 24, as: UInt64.self)
    }

    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { buffer, count in
            store(to: UnsafeMutableRawPointer(buffer.baseAddress!))
            count = 32
        }
    }

    /// Lower-case hex, 64 digits.
    public var description: String { Hex.encode(bytes) }

    /// The next link: SHA-256 of `self` followed by `canonicalBytes`.
    ///
    /// `scratch` is reused between calls to avoid an allocation per event.
    public func next(canonicalBytes: UnsafeRawBufferPointer, scratch: inout [UInt8]) -> ChainHash {
        let total = 32 + canonicalBytes.count
        if scratch.count < total { scratch = [UInt8](repeating: 0, count: Swift.max(total, 2 * scratch.count)) }
        return scratch.withUnsafeMutableBytes { buffer -> ChainHash in
            let base = buffer.baseAddress!
            store(to: base)
            if canonicalBytes.count > 0 {
                (base + 32).copyMemory(from: canonicalBytes.baseAddress!, byteCount: canonicalBytes.count)
            }
            var digest = ChainHash.genesis
            withUnsafeMutableBytes(of: &digest) { out in
                SHA256Digest.digest(base, count: total, into: out.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            return digest
        }
    }
}
