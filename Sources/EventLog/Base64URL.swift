/// base64url without padding (RFC 4648 §5): how tokens and keys travel in URLs and JSON.
///
/// Written out rather than built on Foundation's base64 plus string replacements, which cost
/// more than the rest of a token refresh.
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, symbol) in alphabet.enumerated() { table[Int(symbol)] = UInt8(index) }
        return table
    }()

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        bytes.withContiguousStorageIfAvailable(encode(contiguous:))
            ?? Array(bytes).withUnsafeBufferPointer(encode(contiguous:))
    }

    /// Writes the symbols straight into the string's storage: no array per chunk.
    private static func encode(contiguous input: UnsafeBufferPointer<UInt8>) -> String {
        let length = input.count / 3 * 4 + (input.count % 3 == 0 ? 0 : input.count % 3 + 1)
        return String(unsafeUninitializedCapacity: length) { out in
            alphabet.withUnsafeBufferPointer { symbols in
                func symbol(_ chunk: UInt32, _ shift: UInt32) -> UInt8 { symbols[Int(chunk >> shift & 63)] }
                var index = 0
                var written = 0
                while index + 3 <= input.count {
                    let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                    out[written] = symbol(chunk, 18)
                    out[written + 1] = symbol(chunk, 12)
                    out[written + 2] = symbol(chunk, 6)
                    out[written + 3] = symbol(chunk, 0)
                    index += 3
                    written += 4
                }
                let rest = input.count - index
                if rest > 0 {
                    let chunk = UInt32(input[index]) << 16 | (rest == 2 ? UInt32(input[index + 1]) << 8 : 0)
                    out[written] = symbol(chunk, 18)
                    out[written + 1] = symbol(chunk, 12)
                    if rest == 2 { out[written + 2] = symbol(chunk, 6) }
                }
            }
            return length
        }
    }

    /// The bytes, or `nil` for anything but unpadded base64url (including non-zero spare bits).
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 != 1 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for symbol in input {
            let value = values[Int(symbol)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
