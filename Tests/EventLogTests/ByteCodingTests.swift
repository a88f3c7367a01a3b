import Foundation
import TestSupport
import Testing

@testable import EventLog

@Suite(.ownThreads) struct ByteCodingTests {
    @Test func integersStringsAndUUIDsRoundTrip() throws {
        let id = UUID()
        var writer = ByteWriter()
        writer.write(UInt8(7))
        writer.write(UInt16(0xBEEF))
        writer.write(UInt32(0xDEAD_BEEF))
        writer.write(UInt64.max - 1)
        writer.write(Int64(-42))
        writer.write("grüße, 世界")
        writer.write(id)
        writer.writeOptional(String?.none) { $0.write($1) }
        writer.writeOptional("here") { $0.write($1) }
        let bytes = writer.bytes
        try bytes.withUnsafeBytes { raw throws in
            var reader = ByteReader(raw)
            #expect(try reader.readUInt8() == 7)
            #expect(try reader.readUInt16() == 0xBEEF)
            #expect(try reader.readUInt32() == 0xDEAD_BEEF)
            #expect(try reader.readUInt64() == UInt64.max - 1)
            #expect(try reader.readInt64() == -42)
            #expect(try reader.readString() == "grüße, 世界")
            #expect(try reader.readUUID() == id)
            #expect(try reader.readOptional { r throws(BinaryDecodingError) in try r.readString() } == nil)
            #expect(try reader.readOptional { r throws(BinaryDecodingError) in try r.readString() } == "here")
            #expect(reader.isAtEnd)
        }
    }

    @Test func integersAreBigEndianOnTheWire() {
        var writer = ByteWriter()
        writer.write(UInt32(0x0102_0304))
        #expect(writer.bytes == [1, 2, 3, 4])
    }

    @Test(arguments: [UInt64(0), 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), UInt64.max])
    func varintsRoundTrip(value: UInt64) throws {
        var writer = ByteWriter()
        writer.writeVarint(value)
        #expect(writer.bytes.count == max(1, (64 - value.leadingZeroBitCount + 6) / 7))
        try writer.bytes.withUnsafeBytes { raw throws in
            var reader = ByteReader(raw)
            #expect(try reader.readVarint() == value)
            #expect(reader.isAtEnd)
        }
    }

    @Test func truncatedInputIsATypedError() {
        let bytes: [UInt8] = [0, 0, 0]
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: BinaryDecodingError.truncated(needed: 5, offset: 0)) { try reader.readUInt64() }
        }
    }

    @Test func invalidUTF8IsRejectedNotRepaired() {
        let bytes: [UInt8] = [3, 0x61, 0xFF, 0x62]
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: BinaryDecodingError.invalidUTF8(offset: 0)) { try reader.readString() }
        }
    }

    @Test func overlongVarintIsRejected() {
        let bytes = [UInt8](repeating: 0xFF, count: 11)
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: BinaryDecodingError.overlongVarint(offset: 0)) { try reader.readVarint() }
        }
    }

    @Test func lengthBeyondTheBufferIsTruncatedNotACrash() {
        let bytes: [UInt8] = [0xFF, 0x01, 0x61]
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: BinaryDecodingError.self) { try reader.readString() }
        }
    }
}

@Suite(.ownThreads) struct Base64URLTests {
    @Test(arguments: [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ])
    func matchesRFC4648(plain: String, encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test func usesTheURLAlphabetAndRefusesEverythingElse() {
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        for bad in ["+/8", "Zg==", "Z", "Zh", "Zm9v!"] { #expect(Base64URL.decode(bad) == nil, "\(bad)") }
        let random = (0..<1_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }
        #expect(Base64URL.decode(Base64URL.encode(random)) == random)
    }

    /// The encoder writes into the string's storage; Foundation's base64 (with the URL
    /// alphabet's two symbols and no padding) is the reference, at every length up to 100
    /// and for contiguous and non-contiguous input alike.
    @Test func encodesAsFoundationsBase64DoesAtEveryLength() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...100 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let reference = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == reference, "\(length) bytes")
            #expect(Base64URL.encode(bytes.lazy.map { $0 }) == reference, "\(length) bytes")
            #expect(Base64URL.decode(reference) == bytes)
            var appended = Array("prefix.".utf8)
            Base64URL.append(bytes, to: &appended)
            #expect(appended == Array(("prefix." + reference).utf8), "\(length) bytes appended")
        }
    }

    /// The decoder reads four symbols at a time through its table; a decoder that reads one
    /// symbol at a time into an accumulator is the reference: the same bytes, or the same
    /// refusal, as a string and as a part of one, for the valid text of every length up to
    /// 16, that text with each position changed to every ASCII byte and to a two-byte
    /// character, its last symbol changed to each of the 64 (every spare-bit pattern), and
    /// one symbol too long.
    @Test func decodesAsASymbolBySymbolDecoderDoes() {
        let symbols = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var inputs: [[UInt8]] = []
        for length in 0...16 {
            let valid = Array(
                Base64URL.encode((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ length) }).utf8)
            inputs.append(valid)
            inputs.append(valid + [UInt8(ascii: "A")])
            for position in valid.indices {
                for byte in UInt8(0)...127 {
                    var changed = valid
                    changed[position] = byte
                    inputs.append(changed)
                }
                inputs.append(Array(valid[..<position]) + Array("é".utf8) + Array(valid[(position + 1)...]))
            }
            if let last = valid.indices.last {
                for symbol in symbols {
                    var spare = valid
                    spare[last] = symbol
                    inputs.append(spare)
                }
            }
        }
        var refusals = 0
        for input in inputs {
            let text = String(decoding: input, as: UTF8.self)
            let expected = Self.referenceDecode(input)
            if expected == nil { refusals += 1 }
            #expect(Base64URL.decode(text) == expected, "\(input)")
            #expect(Base64URL.decode(text.dropFirst(0)) == expected, "\(input)")
        }
        #expect(refusals > inputs.count / 2, "the inputs must be mostly refusals: \(refusals) of \(inputs.count)")
    }

    /// One symbol at a time into an accumulator.
    static func referenceDecode(_ input: [UInt8]) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        guard input.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        for symbol in input {
            guard let value = alphabet.firstIndex(of: symbol) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
