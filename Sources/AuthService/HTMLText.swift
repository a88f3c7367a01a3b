import Mustache

/// HTML text for the pages and mails rendered here.
///
/// Rules:
/// - `&`, `<`, `>`, `"` and `'` are written as character references, byte by byte: a quote
///   followed by a combining mark (one `Character` to Swift) is escaped like any other.
///   Mustache's own HTML escaping compares whole characters and leaves such a quote as it is,
///   which closes an attribute in the browser.
/// - Every HTML template is parsed with ``template(_:)``, which makes `{{value}}` escape this way.
public enum HTMLText {
    /// Parses an HTML template whose `{{value}}`s escape as ``escape(_:)`` does.
    public static func template(_ text: String) throws -> MustacheTemplate {
        _ = registered
        return try MustacheTemplate(string: "{{% CONTENT_TYPE: AUTHLOG_HTML}}" + text)
    }

    private static let registered: Void = MustacheContentTypes.register(Escaping(), named: "AUTHLOG_HTML")

    private struct Escaping: MustacheContentType {
        func escapeText(_ text: String) -> String { HTMLText.escape(text) }
    }

    /// `text` with `&`, `<`, `>`, `"` and `'` written as HTML character references. (Byte by
    /// byte: the five are ASCII, and UTF-8 never uses an ASCII byte inside a longer character.)
    public static func escape(_ text: String) -> String {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else {
            return text
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count + 32)
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "&"): out += "&amp;".utf8
            case UInt8(ascii: "<"): out += "&lt;".utf8
            case UInt8(ascii: ">"): out += "&gt;".utf8
            case UInt8(ascii: "\""): out += "&quot;".utf8
            case UInt8(ascii: "'"): out += "&#39;".utf8
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    /// ``HTMLText/escape(_:)`` of the text.
    public var htmlEscaped: String { HTMLText.escape(self) }
}
