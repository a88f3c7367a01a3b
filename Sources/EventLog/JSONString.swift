/// A JSON string literal, for output written by hand (exports, response bodies): quotes and
/// backslashes escaped, control characters and U+2028/U+2029 as `\uXXXX`.
public enum JSONString {
    public static func quote(_ value: some StringProtocol) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let special where special.value < 0x20 || special.value == 0x2028 || special.value == 0x2029:
                let hex = String(special.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
