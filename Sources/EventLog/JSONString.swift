/// A JSON string literal, for output written by hand (exports, response bodies): quotes and
/// backslashes escaped, control characters and U+2028/U+2029 as `\uXXXX`.
public enum JSONString {
    public static func quote(_ value: some StringProtocol) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(value.utf8.count + 2)
        append(quoting: String(value), to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the literal for `value` as UTF-8 to `bytes`, working on the UTF-8 bytes
    /// directly (response bodies are written into one buffer). Runs of plain bytes are copied
    /// whole.
    public static func append(quoting value: String, to bytes: inout [UInt8]) {
        bytes.append(0x22)
        var value = value
        value.withUTF8 { utf8 in
            var plainFrom = 0
            var index = 0
            while index < utf8.count {
                let byte = utf8[index]
                let lineOrParagraphSeparator =
                    byte == 0xE2 && index + 2 < utf8.count && utf8[index + 1] == 0x80
                    && (utf8[index + 2] == 0xA8 || utf8[index + 2] == 0xA9)
                guard byte == 0x22 || byte == 0x5C || byte < 0x20 || lineOrParagraphSeparator else {
                    index += 1
                    continue
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plainFrom..<index]))
                switch byte {
                case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
                case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
                case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
                case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
                case 0xE2: bytes.append(contentsOf: Array("\\u202".utf8) + [utf8[index + 2] == 0xA8 ? 0x38 : 0x39])
                default:
                    bytes.append(
                        contentsOf: Array("\\u00".utf8) + [Hex.digits[Int(byte >> 4)], Hex.digits[Int(byte & 0xF)]])
                }
                index += byte == 0xE2 ? 3 : 1
                plainFrom = index
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plainFrom..<utf8.count]))
        }
        bytes.append(0x22)
    }
}
