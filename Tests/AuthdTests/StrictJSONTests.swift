import EventLog
import Foundation
import TestSupport
import Testing

@testable import RequestJSON

/// StrictJSON directly: what it reads, and what it refuses with which words.
@Suite(.ownThreads) struct StrictJSONTests {
    let fields: Set<String> = ["a", "b"]

    func parse(_ text: String) throws -> [String: JSONValue] {
        try StrictJSON.object(Array(text.utf8), allowed: fields)
    }

    /// What `text` is refused with (nil: it was accepted).
    func refusal(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch let error as StrictJSONError {
            return error.description
        } catch {
            return "not a StrictJSONError: \(error)"
        }
    }

    @Test func validObjectsAreRead() throws {
        #expect(try parse("{}") == [:])
        #expect(try parse(#" { "a" : "x" , "b" : null } "#) == ["a": .string("x"), "b": .null])
        #expect(try parse(#"{"a":true,"b":false}"#) == ["a": .bool(true), "b": .bool(false)])
        #expect(try parse(#"{"a":[1,{"c":"]"}]}"#) == ["a": .nested])
        for (text, value) in [("0", 0.0), ("-0", 0), ("12", 12), ("-1.5", -1.5), ("1e3", 1_000), ("2.5E-1", 0.25)] {
            #expect(try parse(#"{"a":\#(text)}"#) == ["a": .number(value)], "\(text)")
        }
    }

    @Test func escapesAreReadAsRFC8259WritesThem() throws {
        #expect(try parse(#"{"a":"\"\\\/\b\f\n\r\t"}"#) == ["a": .string("\"\\/\u{8}\u{C}\n\r\t")])
        #expect(try parse(#"{"a":"\u0041\u00e9\u20AC"}"#) == ["a": .string("Aé€")])
        // A surrogate pair is one scalar above the Basic Multilingual Plane.
        #expect(try parse(#"{"a":"\uD83D\uDE00"}"#) == ["a": .string("😀")])
        #expect(try parse(#"{"a":"\udbff\udfff"}"#) == ["a": .string("\u{10FFFF}")])
        #expect(try parse(#"{"a":"x\uD800\uDC00y"}"#) == ["a": .string("x\u{10000}y")])
    }

    @Test func malformedEscapesAreRefused() {
        for text in [
            #"{"a":"\u+041"}"#, #"{"a":"\u-041"}"#, #"{"a":"\u 041"}"#, #"{"a":"\u04"}"#, #"{"a":"\u004g"}"#,
            #"{"a":"\x41"}"#, #"{"a":"\"#,
        ] {
            let detail = refusal(text)
            #expect(detail?.contains("malformed JSON") == true, "\(text): \(detail ?? "accepted")")
        }
        for text in [
            #"{"a":"\uD83D"}"#, #"{"a":"\uDE00"}"#, #"{"a":"\uD83Dx"}"#, #"{"a":"\uD83D\u0041"}"#,
            #"{"a":"\uD83D\uD83D"}"#, #"{"a":"\uDE00\uD83D"}"#,
        ] {
            let detail = refusal(text)
            #expect(detail?.contains("lone surrogate") == true, "\(text): \(detail ?? "accepted")")
        }
        #expect(refusal(#"{"a":"\u0000"}"#)?.contains("NUL") == true)
    }

    @Test func numbersOutsideTheGrammarAreRefused() {
        for text in ["+1", "01", "-01", ".5", "1.", "1e", "1e+", "-", "--1", "1.5.5", "0x10", "1e5e5", "Infinity"] {
            #expect(refusal(#"{"a":\#(text)}"#) != nil, "\(text) was accepted")
        }
    }

    @Test func structuralMistakesAreRefusedWithTheReason() {
        let cases: [(String, String)] = [
            (#"{"a":1,"a":2}"#, "duplicate field 'a'"), (#"{"c":1}"#, "unknown field 'c'"),
            ("[]", "JSON object"), (#"{"a":1} x"#, "unexpected bytes"), (#"{"a":1"#, "unterminated object"),
            (#"{"a":"x"#, "unterminated string"), ("{\"a\":\"\t\"}", "control character"),
            (#"{"a":tru}"#, "not a value"), (#"{"a" 1}"#, "expected ':'"),
        ]
        for (text, expected) in cases {
            let detail = refusal(text)
            #expect(detail?.contains(expected) == true, "\(text): \(detail ?? "accepted")")
        }
        #expect(throws: StrictJSONError.self) { try StrictJSON.object([0x7B, 0x00, 0x7D], allowed: fields) }
        #expect(throws: StrictJSONError.self) {
            try StrictJSON.object([0x7B, 0x22, 0xC3, 0x22, 0x7D], allowed: fields)
        }
    }

    /// A nested value was skipped by counting brackets, so `[}` or `[1 2]` inside a field
    /// passed as a value; it is read by the grammar now, to a bounded depth.
    @Test func nestedValuesAreReadByTheGrammar() throws {
        for text in [
            #"{"a":[}"#, #"{"a":[1 2]}"#, #"{"a":{"x"}}"#, #"{"a":[1,{"b:""]"}],"b":true}"#, #"{"a":[01]}"#,
            #"{"a":{"x":1,}}"#, #"{"a":[,]}"#, #"{"a":["\uD800"]}"#, #"{"a":{1:2}}"#, #"{"a":[1]]}"#,
        ] {
            #expect(refusal(text) != nil, "\(text) was accepted")
        }
        #expect(
            try parse(#"{"a":[[],{},[{"x":[null,true,-0.5e1,"]}"]}]],"b":{"a":{"a":1}}}"#) == [
                "a": .nested, "b": .nested,
            ])
        let deep = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        #expect(try parse(#"{"a":\#(deep)}"#) == ["a": .nested])
        let deeper = String(repeating: "[", count: 100_000)
        #expect(refusal(#"{"a":\#(deeper)}"#)?.contains("nested deeper than 32 levels") == true)
    }

    /// `1e400` is in the grammar but no Double holds it: it was read as infinity, a value no
    /// JSON parser gives back (Foundation's refuses it), so it is refused by name.
    @Test func numbersNoDoubleHoldsAreRefused() throws {
        for text in ["1e400", "-1.5e44444", "[1e999]"] {
            #expect(refusal(#"{"a":\#(text)}"#)?.contains("out of range") == true, "\(text) was accepted")
        }
        #expect(
            try parse(#"{"a":1.7976931348623157e308,"b":4.9e-324}"#) == [
                "a": .number(.greatestFiniteMagnitude), "b": .number(4.9e-324),
            ])
        #expect(try parse(#"{"a":1e-400}"#) == ["a": .number(0)])
    }

    @Test func onlyApplicationJSONIsJSON() {
        for type in [
            "application/json", "Application/JSON", "application/json; charset=utf-8", "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"", " application/json ",
        ] {
            #expect(StrictJSON.isJSON(contentType: type), "\(type)")
        }
        for type in [
            "application/jsonfoo", "application/json-patch+json", "application/json5", "text/json",
            "application/x-json",
            "application/json; charset=latin1", "application/json2; charset=utf-8", "", "application/",
        ] {
            #expect(!StrictJSON.isJSON(contentType: type), "\(type)")
        }
    }

    /// The fast path accepts nothing the full parse refuses, and what it accepts the full
    /// parse accepts too: every byte of `application/json` in either case or replaced by
    /// its neighbours, and every other byte in its place.
    @Test func theFastContentTypeCheckAgreesWithTheFullParse() {
        let text = Array("application/json".utf8)
        var candidates: [String] = []
        for index in text.indices {
            for byte in UInt8(0x20)...UInt8(0x7E) {
                var changed = text
                changed[index] = byte
                candidates.append(String(decoding: changed, as: UTF8.self))
            }
        }
        candidates += [
            "APPLICATION/JSON", "application/json ", "application/jso", "application\\json", "application/json\u{301}",
        ]
        var accepted = 0
        for candidate in candidates where StrictJSON.isExactlyApplicationJSON(candidate) {
            accepted += 1
            #expect(StrictJSON.isJSONByParameters(candidate), "\(candidate)")
            #expect(candidate.lowercased() == "application/json", "\(candidate)")
        }
        // Each of the 16 places gives the text itself, each of its 15 letters its capital
        // too (31), and the capitals all at once.
        #expect(accepted == 32)
    }

    /// The fast path for strings without escapes gives what the scalar-by-scalar reference
    /// gives, for strings with and without escapes, control characters, multi-byte UTF-8 and
    /// invalid bytes, and at every length up to 40; a string it cannot read is refused
    /// the same way.
    @Test func theFastStringPathAgreesWithTheReference() {
        let pieces: [[UInt8]] = [
            Array("a".utf8), Array("Z9 ".utf8), Array("é".utf8), Array("😀".utf8), Array("\\n".utf8),
            Array("\\u00e9".utf8), Array("\\\"".utf8), [0x09], [0x1F], [0xFF], [0xC3], Array("/".utf8),
        ]
        // Seeded, so that a failure names bytes that come back on the next run.
        var generator = SplitMix64(seed: 7)
        var compared = 0
        for length in 0...40 {
            for _ in 0..<25 {
                var content: [UInt8] = []
                for _ in 0..<length { content += pieces[Int(generator.next() % UInt64(pieces.count))] }
                let bytes = [UInt8(ascii: "\"")] + content + [UInt8(ascii: "\""), UInt8(ascii: "}")]
                var fast = StrictJSON(bytes: bytes)
                var reference = StrictJSON(bytes: bytes)
                let fastResult = Result { try fast.parseString() }
                let referenceResult = Result { () throws -> String in
                    try reference.expect(UInt8(ascii: "\""))
                    return try reference.parseEscapedString()
                }
                switch (fastResult, referenceResult) {
                case (.success(let a), .success(let b)):
                    #expect(a == b && fast.index == reference.index, "\(bytes)")
                case (.failure(let a as StrictJSONError), .failure(let b as StrictJSONError)):
                    #expect(a == b, "\(bytes)")
                default:
                    Issue.record("the two paths disagree on \(bytes): \(fastResult) vs \(referenceResult)")
                }
                compared += 1
            }
        }
        #expect(compared == 41 * 25)
    }
}
