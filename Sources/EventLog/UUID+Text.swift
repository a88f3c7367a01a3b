import Foundation

extension UUID {
    /// A UUID from its text: exactly 36 characters, hex digits (either case) in groups of
    /// 8-4-4-4-12 with hyphens between them; nil for anything else.
    ///
    /// Foundation's `UUID(uuidString:)` on Linux reads each byte with `sscanf("%2hhx")`, which
    /// also takes a sign, a blank or `0x` in place of a digit (`+1234567-…` reads as
    /// `01234567-…`, `-2345678-…` as `fe345678-…`), so that two texts name one user; and it costs a formatted scan per call.
    /// Ids in paths, tokens and records are read here instead. `UUIDTextTests` pins this to
    /// Foundation on every well-formed text and checks it refuses what Foundation wrongly takes.
    public init?(text: some StringProtocol) {
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed =
            text.utf8.withContiguousStorageIfAvailable { Self.parse($0, into: &bytes) }
            ?? Array(text.utf8).withUnsafeBufferPointer { Self.parse($0, into: &bytes) }
        guard parsed else { return nil }
        self.init(uuid: bytes)
    }

    private static func parse(_ text: UnsafeBufferPointer<UInt8>, into bytes: inout uuid_t) -> Bool {
        guard text.count == 36 else { return false }
        return withUnsafeMutableBytes(of: &bytes) { out in
            var index = 0
            for byte in 0..<16 {
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    guard text[index] == UInt8(ascii: "-") else { return false }
                    index += 1
                }
                guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else { return false }
                out[byte] = high << 4 | low
                index += 2
            }
            return true
        }
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }

    /// The text as `uuidString.lowercased()` spells it, made without either string (Foundation
    /// formats through `sprintf`, then lowercases a copy).
    public var lowercasedText: String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            var index = 0
            write { byte in
                buffer[index] = byte
                index += 1
            }
            return index
        }
    }

    /// Appends ``lowercasedText``'s bytes to `out`.
    public func appendLowercased(to out: inout [UInt8]) {
        write { out.append($0) }
    }

    private func write(_ put: (UInt8) -> Void) {
        withUnsafeBytes(of: uuid) { bytes in
            Hex.digits.withUnsafeBufferPointer { digits in
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 { put(UInt8(ascii: "-")) }
                    put(digits[Int(byte >> 4)])
                    put(digits[Int(byte & 0xF)])
                }
            }
        }
    }
}
