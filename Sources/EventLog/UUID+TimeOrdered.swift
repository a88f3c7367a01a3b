import Foundation

extension UUID {
    /// A version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, then random bits.
    ///
    /// Stream ids made this way sort by creation time, so a new stream's index entries land at
    /// the right edge of the B-tree instead of on a random page: far fewer pages to write
    /// and sync per commit than with random (version 4) ids.
    public static func timeOrdered(at time: Timestamp = .now()) -> UUID {
        var generator = SystemRandomNumberGenerator()
        return timeOrdered(at: time, using: &generator)
    }

    /// ``timeOrdered(at:)`` with an injected source of randomness (for tests and seeding).
    public static func timeOrdered(at time: Timestamp, using generator: inout some RandomNumberGenerator) -> UUID {
        let milliseconds = UInt64(max(0, time.microsecondsSince1970 / 1_000))
        let random = (generator.next() as UInt64, generator.next() as UInt64)
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * UInt64(index))) }
        for index in 6..<16 {
            let word = index < 11 ? random.0 : random.1
            bytes[index] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(index % 8)))
        }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // variant 10
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}
