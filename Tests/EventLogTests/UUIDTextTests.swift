import EventLog
import Foundation
import TestSupport
import Testing

/// `UUID(text:)` against Foundation's `UUID(uuidString:)`: the same UUID for every
/// well-formed text, and nil where Foundation reads a sign, a blank or `0x` as a digit.
@Suite(.ownThreads) struct UUIDTextTests {
    @Test func everyWellFormedTextReadsAsFoundationReadsIt() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<5_000 {
            let id = UUID()
            var text = id.uuidString
            // Mix the cases: lower, upper, and each digit either way.
            switch round % 3 {
            case 0: text = text.lowercased()
            case 1: break
            default:
                text = String(text.map { Bool.random(using: &generator) ? Character($0.lowercased()) : $0 })
            }
            #expect(UUID(text: text) == id, "\(text)")
            #expect(UUID(text: text) == UUID(uuidString: text), "\(text)")
            #expect(UUID(text: Substring(text)) == id)
        }
    }

    @Test func textsFoundationWronglyTakesAreRefused() {
        let good = "12345678-1234-1234-1234-123456789abc"
        let odd = [
            "+1234567-1234-1234-1234-123456789abc", " 1234567-1234-1234-1234-123456789abc",
            "0x234567-1234-1234-1234-123456789abc", "12345678-+234-1234-1234-123456789abc",
            "-2345678-1234-1234-1234-123456789abc",
        ]
        #expect(UUID(text: good) != nil)
        for text in odd {
            #expect(UUID(text: text) == nil, "\(text)")
        }
        // Foundation on Linux takes at least one of them: the reason this parser exists.
        #expect(odd.contains { UUID(uuidString: $0) != nil })
    }

    @Test func malformedTextsAreRefused() {
        let good = Array("12345678-1234-1234-1234-123456789abc".utf8)
        var checked = 0
        // Every single-character change to a non-hex, non-hyphen byte, and every length change.
        for index in good.indices {
            for replacement in [UInt8(ascii: "g"), UInt8(ascii: "-"), UInt8(ascii: "/"), 0, 0xC3] {
                var text = good
                text[index] = replacement
                guard text != good else { continue }
                let string = String(decoding: text, as: UTF8.self)
                let isHyphenSlot = [8, 13, 18, 23].contains(index)
                if isHyphenSlot && replacement == UInt8(ascii: "-") { continue }
                #expect(UUID(text: string) == nil, "\(string)")
                // Foundation takes a hyphen for a digit too ("-2" reads as 0xFE); the rest it refuses.
                if replacement != UInt8(ascii: "-") { #expect(UUID(uuidString: string) == nil, "\(string)") }
                checked += 1
            }
        }
        for count in [0, 1, 35, 37, 72] {
            let string = String(decoding: Array(repeating: UInt8(ascii: "a"), count: count), as: UTF8.self)
            #expect(UUID(text: string) == nil)
        }
        #expect(UUID(text: String(decoding: good.dropLast(), as: UTF8.self) + "é") == nil)
        #expect(checked > 150)
    }

    @Test func lowercasedTextSpellsWhatFoundationSpells() {
        for _ in 0..<5_000 {
            let id = UUID()
            #expect(id.lowercasedText == id.uuidString.lowercased())
            var bytes: [UInt8] = [0x7B]
            id.appendLowercased(to: &bytes)
            #expect(bytes == [0x7B] + Array(id.uuidString.lowercased().utf8))
            #expect(UUID(text: id.lowercasedText) == id)
        }
    }
}
