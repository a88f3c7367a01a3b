/// Lower-case hexadecimal, the one spelling of bytes in the project's output (hashes, keys,
/// ids, escapes): every writer takes its digits from here.
public enum Hex {
    /// The 16 digits, lower case, for writers that spell bytes in place.
    public static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Two digits per byte, high nibble first.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
