import COpenSSL
import Foundation

extension UUID {
    /// A version 4 UUID (RFC 9562) from OpenSSL's public generator (`RAND_bytes`), which the
    /// system seeds and which draws again in a child after `fork`.
    ///
    /// Rules: its 128 bits come from one call of that generator, whose only system call is a
    /// `getpid` (OpenSSL's check for a fork): not `UUID()`, whose Linux implementation opens,
    /// reads and closes `/dev/urandom` for each one, nor two draws of
    /// `SystemRandomNumberGenerator`, a `getrandom` each. Should the generator fail,
    /// they come from `SystemRandomNumberGenerator`, which stops the process rather than
    /// return fewer random bits.
    public static func random() -> UUID {
        var words: (UInt64, UInt64) = (0, 0)
        let drawn = withUnsafeMutableBytes(of: &words) {
            RAND_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32($0.count))
        }
        if drawn == 1 { return version4(high: words.0, low: words.1) }
        var generator = SystemRandomNumberGenerator()
        return version4(high: generator.next(), low: generator.next())
    }

    /// The version 4 UUID of 16 random bytes the caller drew (from a reserve of the
    /// generator's bytes, say): the first eight are the high word and the next eight the low
    /// one, in memory order, as ``random()`` takes its own.
    public static func version4(bits bytes: [UInt8]) -> UUID {
        precondition(bytes.count == 16, "a version 4 UUID takes 16 random bytes")
        return bytes.withUnsafeBytes {
            version4(high: $0.loadUnaligned(as: UInt64.self), low: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }

    /// The version 4 UUID of 128 random bits: all but the six that name the version and the
    /// variant are kept.
    static func version4(high: UInt64, low: UInt64) -> UUID {
        func byte(_ word: UInt64, _ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: word >> (8 * UInt64(index))) }
        return UUID(
            uuid: (
                byte(high, 0), byte(high, 1), byte(high, 2), byte(high, 3), byte(high, 4), byte(high, 5),
                0x40 | (byte(high, 6) & 0x0F), byte(high, 7), 0x80 | (byte(low, 0) & 0x3F), byte(low, 1),
                byte(low, 2), byte(low, 3), byte(low, 4), byte(low, 5), byte(low, 6), byte(low, 7)
            ))
    }
}
