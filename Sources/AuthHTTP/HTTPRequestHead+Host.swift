import HTTPTypes
import NIOHTTP1

/// RFC 9112 §3.2's rule for the Host field, which every request head meets before anything
/// answers it (``FastRouteHandler``).
///
/// Rules:
/// - A request of HTTP/1.1 or later carries exactly one Host field line; an HTTP/1.0 one at
///   most one.
/// - Its value, without spaces or tabs at either end, is empty or made of the characters a
///   host and port may hold (RFC 3986 §3.2.2 and §3.2.3: letters, digits, `-._~`, `%`, the
///   sub-delimiters `!$&'()*+,;=`, `:`, `[` and `]`; no userinfo, so no `@`).
///   This is a check of characters, not of the grammar: nothing in authd reads the value
///   (links are made from `--public-url`), so it only has to refuse what no client sends.
/// - A head that breaks the rule is answered 400, as a head that does not parse is, and its
///   connection is closed once that answer is out: two Host lines are how a request is made
///   to mean one thing to a proxy and another here.
extension HTTPRequestHead {
    /// Whether this head breaks the Host rule.
    var breaksTheHostRule: Bool {
        var seen = 0
        for (name, value) in headers where HTTPHeaders.name(name, is: Self.host) {
            seen += 1
            if seen > 1 || !Self.isAuthority(value) { return true }
        }
        return seen == 0 && (version.major, version.minor) >= (1, 1)
    }

    /// The Host field's name. (HTTP types keep Host out of their fields, as the request's
    /// authority, and offer no `.host`.)
    static let host = HTTPField.Name("Host")!

    /// Whether every byte of `value`, but spaces and tabs at either end, may appear in a host
    /// and port.
    static func isAuthority(_ value: String) -> Bool {
        var value = value  // `withUTF8` reads the bytes in place; a native string is not copied
        return value.withUTF8 { bytes in
            func blank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
            var start = 0
            var end = bytes.count
            while start < end && blank(bytes[start]) { start += 1 }
            while end > start && blank(bytes[end - 1]) { end -= 1 }
            return bytes[start..<end].allSatisfy(isAuthorityByte)
        }
    }

    private static func isAuthorityByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            // `!$&'()*+,` are 0x21, 0x24 and 0x26 to 0x2C; `-.` 0x2D and 0x2E.
            UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&")...UInt8(ascii: "."),
            UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: ";"), UInt8(ascii: "="),
            UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"):
            true
        default: false
        }
    }
}
