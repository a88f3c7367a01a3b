import NIOHTTP1

/// RFC 9112 §3.2's rule for the Host field, which every request head meets before anything
/// answers it (``FastRouteHandler``).
///
/// Rules:
/// - An HTTP/1.1 request carries exactly one Host field line; an HTTP/1.0 one at most one.
/// - Its value is empty or made of the characters an authority may hold (RFC 3986 §3.2:
///   letters, digits, `-._~`, `%`, the sub-delimiters `!$&'()*+,;=`, `:`, `[` and `]`).
///   This is a check of characters, not of the grammar: nothing in authd reads the value
///   (links are made from `--public-url`), so it only has to refuse what no client sends.
/// - A head that breaks the rule is answered 400, as a head that does not parse is, and its
///   connection is closed: two Host lines are how a request is made to mean one thing to a
///   proxy and another here.
extension HTTPRequestHead {
    /// Whether this head breaks the Host rule.
    var breaksTheHostRule: Bool {
        var seen = 0
        for (name, value) in headers where Self.isHost(name) {
            seen += 1
            if seen > 1 || !Self.isAuthority(value) { return true }
        }
        return seen == 0 && version.major == 1 && version.minor >= 1
    }

    /// Whether the field name `name` is Host, in any case. (HTTP types keep Host out of their
    /// fields, as the request's authority, so ``HTTPHeaders/name(_:is:)`` cannot name it.)
    static func isHost(_ name: String) -> Bool {
        // Each of the four is a letter: `| 0x20` makes it lower case, and no other byte.
        name.utf8.count == 4 && zip(name.utf8, "host".utf8).allSatisfy { $0 | 0x20 == $1 }
    }

    /// Whether every byte of `value` may appear in an authority.
    static func isAuthority(_ value: String) -> Bool {
        value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default: Self.authorityPunctuation.contains(byte)
            }
        }
    }

    private static let authorityPunctuation = Set("-._~%!$&'()*+,;=:[]".utf8)
}
