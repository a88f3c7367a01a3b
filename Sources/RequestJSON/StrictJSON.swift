import Foundation

/// A JSON value of a request body.
public enum JSONValue: Equatable, Sendable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case nested
}

/// Parses a request body that must be one flat JSON object, refusing what lenient parsers
/// let through: invalid UTF-8, NUL bytes, duplicate keys, unknown fields, nested values,
/// trailing bytes, numbers outside RFC 8259's grammar (`+1`, `01`, `.5`, `1.`) or beyond a
/// Double (`1e400`), `\u` escapes that are not exactly four hex digits, and lone
/// surrogates. A surrogate pair escaped as
/// `\uD83D\uDE00` is one scalar, as RFC 8259 section 7 says. A nested value is read to its
/// end by the same grammar (at most ``maximumDepth`` levels) and comes back as
/// ``JSONValue/nested``, which no field accepts. Every refusal is a ``StrictJSONError`` that
/// says what was wrong; nothing else is thrown.
public struct StrictJSON {
    /// Whether a Content-Type header names JSON: the media type `application/json` exactly
    /// (case-insensitive, so not `application/jsonfoo`), and if a charset parameter is
    /// given, UTF-8.
    public static func isJSON(contentType: String) -> Bool {
        isExactlyApplicationJSON(contentType) || isJSONByParameters(contentType)
    }

    /// The common case, `application/json` in any letter case and nothing else, without
    /// Foundation's trimming and splitting (a fast path: ``isJSONByParameters(_:)``, the
    /// reference, accepts everything it accepts; a test holds them together).
    static func isExactlyApplicationJSON(_ contentType: String) -> Bool {
        let expected: StaticString = "application/json"
        var contentType = contentType
        return contentType.withUTF8 { given in
            guard given.count == expected.utf8CodeUnitCount else { return false }
            // An ASCII letter and its capital differ in bit 0x20 only; '/' must match exactly.
            let wanted = UnsafeBufferPointer(start: expected.utf8Start, count: expected.utf8CodeUnitCount)
            return zip(given, wanted).allSatisfy { $0 == $1 || ($0 | 0x20 == $1 && $1 >= 0x61) }
        }
    }

    /// The media type parsed in full: parameters, spaces, a quoted charset.
    static func isJSONByParameters(_ contentType: String) -> Bool {
        let parts = contentType.split(separator: ";", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard parts.first == "application/json" else { return false }
        for parameter in parts.dropFirst() where parameter.hasPrefix("charset=") {
            let charset = parameter.dropFirst("charset=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard charset == "utf-8" || charset == "utf8" else { return false }
        }
        return true
    }

    public static func object(_ bytes: [UInt8], allowed: Set<String>) throws -> [String: JSONValue] {
        guard !bytes.contains(0) else { throw StrictJSONError("the body contains a NUL byte") }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw StrictJSONError("the body is not valid UTF-8")
        }
        var parser = StrictJSON(bytes: bytes)
        parser.skipSpace()
        let object = try parser.parseObject(allowed: allowed)
        parser.skipSpace()
        guard parser.index == bytes.count else {
            throw StrictJSONError("unexpected bytes after the JSON object at offset \(parser.index)")
        }
        return object
    }

    let bytes: [UInt8]
    var index = 0

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    func fail(_ what: String) -> StrictJSONError { StrictJSONError("malformed JSON at offset \(index): \(what)") }

    mutating func expect(_ byte: UInt8) throws {
        guard index < bytes.count, bytes[index] == byte else {
            throw fail("expected '\(Character(UnicodeScalar(byte)))'")
        }
        index += 1
    }

    mutating func parseObject(allowed: Set<String>) throws -> [String: JSONValue] {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else {
            throw StrictJSONError("the body must be a JSON object")
        }
        index += 1
        var result: [String: JSONValue] = [:]
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return result
        }
        while true {
            skipSpace()
            let key = try parseString()
            guard allowed.contains(key) else { throw StrictJSONError("unknown field '\(key)'") }
            guard result[key] == nil else { throw StrictJSONError("duplicate field '\(key)'") }
            skipSpace()
            try expect(UInt8(ascii: ":"))
            skipSpace()
            result[key] = try parseValue()
            skipSpace()
            guard index < bytes.count else { throw fail("unterminated object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            try expect(UInt8(ascii: "}"))
            return result
        }
    }

    /// A value inside `depth` nested arrays or objects (0 for a field of the body).
    mutating func parseValue(depth: Int = 0) throws -> JSONValue {
        guard index < bytes.count else { throw fail("missing value") }
        switch bytes[index] {
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            try skipNested(depth: depth + 1)
            return .nested
        default:
            let start = index
            try skipNumber()
            guard let number = Double(String(decoding: bytes[start..<index], as: UTF8.self)) else {
                throw fail("not a value")
            }
            // In the grammar but beyond any Double (`1e400`): refused, never read as infinity.
            guard number.isFinite else { throw fail("a number out of range") }
            return .number(number)
        }
    }

    /// Moves past a number as RFC 8259 writes it: `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`.
    mutating func skipNumber() throws {
        func isDigit(_ at: Int) -> Bool { at < bytes.count && (0x30...0x39).contains(bytes[at]) }
        func digits() throws {
            guard isDigit(index) else { throw fail("not a value") }
            while isDigit(index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        if index < bytes.count, bytes[index] == UInt8(ascii: "0") {
            index += 1
            if isDigit(index) { throw fail("a number with a leading zero") }
        } else {
            try digits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            try digits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            try digits()
        }
    }

    /// The four hex digits after `\u`, exactly (no sign, no fewer).
    mutating func hexQuad() throws -> UInt32 {
        guard bytes.count - index >= 4 else { throw fail("bad \\u escape") }
        var value: UInt32 = 0
        for byte in bytes[index..<index + 4] {
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: throw fail("bad \\u escape")
            }
            value = value << 4 | UInt32(digit)
        }
        index += 4
        return value
    }

    /// The scalar of a `\u` escape whose `\u` was read: a surrogate pair is read whole.
    mutating func escapedScalar() throws -> UnicodeScalar {
        let value = try hexQuad()
        switch value {
        case 0: throw StrictJSONError("a string contains a NUL character")
        case 0xD800...0xDBFF:
            guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw fail("\\u escape of a lone surrogate") }
            index += 2
            let low = try hexQuad()
            guard (0xDC00...0xDFFF).contains(low) else { throw fail("\\u escape of a lone surrogate") }
            return UnicodeScalar(0x10000 + (value - 0xD800) << 10 + (low - 0xDC00))!
        default:
            guard let scalar = UnicodeScalar(value) else { throw fail("\\u escape of a lone surrogate") }
            return scalar
        }
    }

    mutating func literal(_ word: String, _ value: JSONValue) throws -> JSONValue {
        let utf8 = Array(word.utf8)
        guard bytes.count - index >= utf8.count, Array(bytes[index..<index + utf8.count]) == utf8 else {
            throw fail("not a value")
        }
        index += utf8.count
        return value
    }

    /// The deepest a nested value may go; a deeper one is refused rather than read.
    static let maximumDepth = 32

    /// Moves past a nested array or object (the `[` or `{` at `index`), read as RFC 8259
    /// writes it, at `depth` (1 for a field's value). Its keys are not checked against the
    /// allowed fields: the value as a whole is ``JSONValue/nested``.
    mutating func skipNested(depth: Int) throws {
        guard depth <= Self.maximumDepth else { throw fail("nested deeper than \(Self.maximumDepth) levels") }
        let isObject = bytes[index] == UInt8(ascii: "{")
        let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
        index += 1
        skipSpace()
        if index < bytes.count, bytes[index] == close {
            index += 1
            return
        }
        while true {
            skipSpace()
            if isObject {
                _ = try parseString()
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
            }
            _ = try parseValue(depth: depth)
            skipSpace()
            guard index < bytes.count else { throw fail("unterminated value") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            try expect(close)
            return
        }
    }

    /// A string, its opening quote at `index`.
    ///
    /// The common case, no escape and no control character before the closing quote, is the
    /// bytes between the quotes as they are (a fast path; ``parseEscapedString()``, the
    /// reference, reads every string and gives the same answer: a test holds them together).
    mutating func parseString() throws -> String {
        try expect(UInt8(ascii: "\""))
        var end = index
        while end < bytes.count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") {
                // Decoded as the reference decodes its plain runs (invalid UTF-8 repaired the
                // same way, though ``object(_:allowed:)`` has refused it already).
                let string = String(decoding: bytes[index..<end], as: UTF8.self)
                index = end + 1
                return string
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            end += 1
        }
        return try parseEscapedString()
    }

    /// The rest of a string whose opening quote was read, scalar by scalar: escapes, control
    /// characters and all.
    mutating func parseEscapedString() throws -> String {
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
            raw.removeAll()
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                flush()
                return String(scalars)
            case UInt8(ascii: "\\"):
                flush()
                guard index < bytes.count else { throw fail("unterminated escape") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{8}")
                case UInt8(ascii: "f"): scalars.append("\u{C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"): scalars.append(try escapedScalar())
                default: throw fail("bad escape")
                }
            case 0x00..<0x20:
                throw fail("control character in a string")
            default:
                raw.append(byte)
            }
        }
        throw fail("unterminated string")
    }
}

/// Why a body is not the flat JSON object ``StrictJSON`` reads: one sentence for the client.
public struct StrictJSONError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
