import Foundation
import TestSupport
import Testing

@testable import EventLog

@Suite(.ownThreads) struct ValueTests {
    @Test func expectedVersionRules() {
        #expect(ExpectedVersion.noStream.isMet(byCurrent: 0))
        #expect(!ExpectedVersion.noStream.isMet(byCurrent: 1))
        #expect(ExpectedVersion.exactly(3).isMet(byCurrent: 3))
        #expect(!ExpectedVersion.exactly(3).isMet(byCurrent: 4))
        #expect(ExpectedVersion.any.isMet(byCurrent: 0))
        #expect(ExpectedVersion.any.isMet(byCurrent: 99))
    }

    @Test func timestampsPrintAsRFC3339WithMicroseconds() {
        #expect(Timestamp(microsecondsSince1970: 0).description == "1970-01-01T00:00:00.000000Z")
        #expect(Timestamp(microsecondsSince1970: 1_795_801_468_000_042).description == "2026-11-27T17:44:28.000042Z")
        #expect(Timestamp(microsecondsSince1970: -1).description == "1969-12-31T23:59:59.999999Z")
    }

    @Test func timestampsPrintAsGmtimeDoesAcrossYearsOneToNineThousandNineHundredNinetyNine() {
        let first: Int64 = -62_135_596_800_000_000  // 0001-01-01T00:00:00Z
        let last: Int64 = 253_402_300_799_999_999  // 9999-12-31T23:59:59.999999Z
        var edges: [Int64] = [first, last, 0, -1, 1, 951_782_400_000_000, -2_203_891_200_000_000]
        edges += [first - 1, last + 1]  // outside: printed through gmtime_r
        var random = SplitMix64(seed: 2_026)
        let samples = (0..<20_000).map { _ in first + Int64(random.next() % UInt64(last - first)) }
        for micros in edges + samples {
            let time = Timestamp(microsecondsSince1970: micros)
            #expect(time.description == time.gmtimeDescription(), "at \(micros) µs")
        }
        #expect(Timestamp(microsecondsSince1970: 951_782_400_000_000).description == "2000-02-29T00:00:00.000000Z")
        #expect(Timestamp(microsecondsSince1970: last).description == "9999-12-31T23:59:59.999999Z")
    }

    @Test func jsonStringsWrittenAsBytesEqualTheQuotedForm() {
        var random = SplitMix64(seed: 7)
        let pieces = [
            "a", "é", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1F}", "\u{7F}", "\u{2028}", "\u{2029}", "\u{2027}",
            "€", "😀", " ",
        ]
        var inputs = ["", "plain ascii", "\u{2028}", "ends with \u{E2}"]
        for _ in 0..<5_000 {
            inputs.append(
                String(
                    (0..<Int(random.next() % 12)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }
                        .joined()))
        }
        for input in inputs {
            var bytes: [UInt8] = []
            JSONString.append(quoting: input, to: &bytes)
            let quoted = String(decoding: bytes, as: UTF8.self)
            #expect(quoted == Self.quotedByScalars(input), "for \(Array(input.unicodeScalars))")
            #expect(JSONString.quote(input) == quoted)
            // A JSON parser reads the input back from it.
            let parsed = try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed) as? String
            #expect(parsed == input, "for \(Array(input.unicodeScalars))")
        }
    }

    /// The literal built scalar by scalar: an independent statement of the escaping rules.
    static func quotedByScalars(_ value: String) -> String {
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

    @Test func conflictMessagesSayWhatWasExpectedAndFound() {
        let stream = UUID(uuidString: "6F9619FF-8B86-D011-B42D-00C04FC964FF")!
        let error = EventLogError.conflict(stream: stream, expected: .noStream, actual: 2)
        #expect(
            error.description
                == "conflict on stream 6f9619ff-8b86-d011-b42d-00c04fc964ff: expected no stream, found version 2")
    }
}

@Suite(.ownThreads) struct TimeOrderedUUIDTests {
    @Test func carriesVersionVariantAndMilliseconds() {
        let id = UUID.timeOrdered(at: Timestamp(microsecondsSince1970: 0x0123_4567_89AB * 1_000 + 999))
        let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
        #expect(Array(bytes[0..<6]) == [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB])
        #expect(bytes[6] >> 4 == 7)
        #expect(bytes[8] >> 6 == 0b10)
    }

    @Test func laterIdsSortAfterEarlierOnes() {
        let ids = (0..<100).map { UUID.timeOrdered(at: Timestamp(microsecondsSince1970: Int64($0) * 1_000)) }
        let keys = ids.map { id in withUnsafeBytes(of: id.uuid) { Array($0) } }
        #expect(keys == keys.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(Set(ids).count == 100)
    }
}

@Suite(.ownThreads) struct RandomUUIDTests {
    @Test func carriesVersionFourAndTheVariantAndDiffers() {
        let ids = (0..<1_000).map { _ in UUID.random() }
        #expect(Set(ids).count == 1_000)
        for id in ids {
            let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
            #expect(bytes[6] >> 4 == 4)
            #expect(bytes[8] >> 6 == 0b10)
        }
        #expect(UUID(uuidString: ids[0].uuidString) == ids[0])
    }

    @Test func takesBytesDrawnElsewhereAsItsOwnDraw() {
        let bytes: [UInt8] = Array(1...16)
        #expect(UUID.version4(bits: bytes) == UUID.version4(high: 0x0807_0605_0403_0201, low: 0x100F_0E0D_0C0B_0A09))
        #expect(UUID.version4(bits: bytes).lowercasedText == "01020304-0506-4708-890a-0b0c0d0e0f10")
        #expect(UUID.version4(bits: [UInt8](repeating: 0xFF, count: 16)) == UUID.version4(high: .max, low: .max))
    }

    @Test func keepsEveryBitButVersionAndVariant() {
        #expect(UUID.version4(high: .max, low: .max).lowercasedText == "ffffffff-ffff-4fff-bfff-ffffffffffff")
        #expect(UUID.version4(high: 0, low: 0).lowercasedText == "00000000-0000-4000-8000-000000000000")
        #expect(
            UUID.version4(high: 0x0807_0605_0403_0201, low: 0x1817_1615_1413_1211).lowercasedText
                == "01020304-0506-4708-9112-131415161718")
    }
}
