import Foundation
import LogExport
import TestSupport
import Testing

/// The export's line parsers: an accepted line is one an export writes, spelled as it writes it.
@Suite(.ownThreads) struct ExportLineTests {
    /// The golden export's LoginFailed event, position 23.
    static let loginFailed: String = {
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Golden/export-v2/export.jsonl")
        let text = try! String(contentsOf: golden, encoding: .utf8)
        return String(text.split(separator: "\n").first { $0.contains(#""position":23,"#) }!)
    }()

    func read(_ line: String) throws -> EventLine {
        try EventLine(Array(line.utf8), expectedPosition: 23)
    }

    @Test func theGoldenLineIsRead() throws {
        let event = try read(Self.loginFailed)
        #expect(event.payload == "AAAAAQA=" && event.stored.count > 32)
    }

    /// Base64 whose spare bits are not zero decodes to the same bytes as the export's own
    /// spelling; it was accepted, so a line the export never wrote imported as if it had.
    @Test func aPayloadSpelledOtherwiseThanTheExportWritesItIsRefused() {
        let respelled = Self.loginFailed.replacingOccurrences(
            of: #""payload":"AAAAAQA=""#, with: #""payload":"AAAAAQB=""#)
        #expect(respelled != Self.loginFailed)
        #expect(Data(base64Encoded: "AAAAAQB=") == Data(base64Encoded: "AAAAAQA="))
        #expect(throws: ImportFault.self) { try read(respelled) }
        for unpadded in [#""payload":"AAAAAQA""#, #""payload":" AAAAAQA=""#] {
            #expect(throws: ImportFault.self) {
                try read(Self.loginFailed.replacingOccurrences(of: #""payload":"AAAAAQA=""#, with: unpadded))
            }
        }
    }

    /// Hex digits with a sign (`+4`, `-0`) were read as numbers, so `+b` stood for `0b`.
    @Test func hexWithSignsIsRefused() throws {
        let hash = try #require(
            Self.loginFailed.firstRange(of: #""hash":""#).map { Self.loginFailed[$0.upperBound...].prefix(64) })
        let signed = Self.loginFailed.replacingOccurrences(of: String(hash), with: "+" + hash.dropFirst())
        #expect(throws: ImportFault.self) { try read(signed) }
        #expect(unhex("+f") == nil && unhex("-0") == nil && unhex("0x") == nil && unhex(" f") == nil)
        #expect(unhex("0aF9") == [0x0A, 0xF9] && unhex("") == [])
        #expect(hex([0x0A, 0xF9]) == "0af9")
    }
}

/// An event a service credential caused records `credential:ID` as its actor: an import reads it.
@Suite(.ownThreads) struct CredentialActorLineTests {
    @Test func aCredentialActorIsReadAndAForgedOneRefused() throws {
        let line = ExportLineTests.loginFailed
        let actor = #""actor":"01a2335f-bcb8-7ddc-a7b1-bbad4bdbd0ea""#
        #expect(line.contains(actor))
        let credential = line.replacingOccurrences(
            of: actor, with: #""actor":"credential:2f0c3f5e-8b1a-4c2d-9e3f-0a1b2c3d4e5f""#)
        #expect(try EventLine(Array(credential.utf8), expectedPosition: 23).actor.hasPrefix("credential:"))
        for forged in ["credential:nobody", "admin"] {
            let bad = line.replacingOccurrences(of: actor, with: #""actor":"\#(forged)""#)
            #expect(throws: ImportFault.self) { try EventLine(Array(bad.utf8), expectedPosition: 23) }
        }
    }
}
