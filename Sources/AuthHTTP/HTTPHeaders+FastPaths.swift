import HTTPTypes
import NIOHTTP1

/// What the fast paths (``FastReads``, ``DirectWrites``) read of a request head as NIO's
/// decoder gave it, before any conversion to HTTP types.
///
/// Rules:
/// - A field's name is compared as HTTP compares names: ASCII letters in either case.
/// - A value is used only if HTTP types would keep it as it is (``isKeptAsIs(_:)``): otherwise
///   the request goes the slow way, whose conversion rewrites the value. So the two paths
///   always read the same value.
extension HTTPHeaders {
    /// Whether the field name `given` is `name`.
    static func name(_ given: String, is name: HTTPField.Name) -> Bool {
        var expected = name.canonicalName  // lower case
        guard given.utf8.count == expected.utf8.count else { return false }
        var given = given
        return given.withUTF8 { given in
            expected.withUTF8 { expected in
                for index in given.indices {
                    let byte = given[index]
                    let lower = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
                    if lower != expected[index] { return false }
                }
                return true
            }
        }
    }

    /// Whether HTTP types keep `value` as it is (RFC 9110's field-value): no control
    /// character but a tab, and no space or tab first or last. Any other value it changes
    /// (the bad bytes to spaces, then trimmed), so a fast path must not read it raw.
    static func isKeptAsIs(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { bytes in
            guard let first = bytes.first, let last = bytes.last else { return true }
            func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
            guard !isBlank(first), !isBlank(last) else { return false }
            // No early exit and no branch, so that the compiler makes this loop vector code: an
            // access token is about 500 bytes.
            var bad: UInt8 = 0
            for byte in bytes {
                let control = (byte < 0x20) != (byte == 0x09)  // below a space, and not a tab
                bad |= (control ? 1 : 0) | (byte == 0x7F ? 1 : 0)
            }
            return bad == 0
        }
    }
}
