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

    /// Appends the encoding of `bytes` to `out`.
    public static func append(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        if bytes.withContiguousStorageIfAvailable({ append(contiguous: $0, to: &out) }) == nil {
            Array(bytes).withUnsafeBufferPointer { append(contiguous: $0, to: &out) }
        }
    }

    /// The room is made for `input` as it is, not for what a collection said its count was.
    private static func append(contiguous input: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        let start = out.count
        let length = encodedLength(input.count)
        out.append(contentsOf: repeatElement(0, count: length))
        out.withUnsafeMutableBufferPointer { buffer in
            write(input, to: UnsafeMutableBufferPointer(rebasing: buffer[start..<start + length]))
        }
    }

    /// The number of symbols that encode `count` bytes.
    static func encodedLength(_ count: Int) -> Int {
        count / 3 * 4 + (count % 3 == 0 ? 0 : count % 3 + 1)
    }

    /// Writes the symbols straight into the string's storage: no array per chunk.
    private static func encode(contiguous input: UnsafeBufferPointer<UInt8>) -> String {
        let length = encodedLength(input.count)
        return String(unsafeUninitializedCapacity: length) { out in
            write(input, to: out)
            return length
        }
    }

    /// Writes the encoding of `input` to `out`, which holds exactly its length.
    private static func write(_ input: UnsafeBufferPointer<UInt8>, to out: UnsafeMutableBufferPointer<UInt8>) {
        precondition(out.count == encodedLength(input.count), "base64url: the room is not the encoding's length")
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
    }

    /// The bytes, or `nil` for anything but unpadded base64url (including non-zero spare bits).
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        switch text.utf8.withContiguousStorageIfAvailable(decode(contiguous:)) {
        case .some(let decoded): decoded
        case .none: Array(text.utf8).withUnsafeBufferPointer(decode(contiguous:))
        }
    }

    /// Four symbols at a time into the array's storage, through the table: no append per
    /// byte. `Base64URLTests` holds it to a decoder that reads one symbol at a time.
    private static func decode(contiguous input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let count = input.count
        guard count % 4 != 1 else { return nil }
        let length = count / 4 * 3 + (count % 4 == 0 ? 0 : count % 4 - 1)
        // A symbol outside the alphabet reads as 0xFF, which sets a bit above the six any
        // symbol holds: one test of the OR of all of them finds it.
        var seen: UInt32 = 0
        var spare: UInt32 = 0
        let bytes = values.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: length) { out, initialized in
                func value(_ index: Int) -> UInt32 {
                    let value = UInt32(table[Int(input[index])])
                    seen |= value
                    return value
                }
                var index = 0
                var written = 0
                while index + 4 <= count {
                    let chunk = value(index) << 18 | value(index + 1) << 12 | value(index + 2) << 6 | value(index + 3)
                    out[written] = UInt8(truncatingIfNeeded: chunk >> 16)
                    out[written + 1] = UInt8(truncatingIfNeeded: chunk >> 8)
                    out[written + 2] = UInt8(truncatingIfNeeded: chunk)
                    index += 4
                    written += 3
                }
                let rest = count - index
                if rest >= 2 {
                    var chunk = value(index) << 18 | value(index + 1) << 12
                    if rest == 3 { chunk |= value(index + 2) << 6 }
                    out[written] = UInt8(truncatingIfNeeded: chunk >> 16)
                    if rest == 3 { out[written + 1] = UInt8(truncatingIfNeeded: chunk >> 8) }
                    // The bits below the last whole byte must be zero.
                    spare = chunk & (rest == 2 ? 0xFFFF : 0xFF)
                }
                initialized = length
            }
        }
        guard seen & ~63 == 0, spare == 0 else { return nil }
        return bytes
    }
}
