import TestSupport
import Testing

@testable import EventLog

@Suite(.ownThreads) struct ChainHashTests {
    @Test func matchesSHA256OfThePreviousHashAndTheBytes() {
        // SHA-256 of 32 zero bytes followed by "abc", computed independently.
        var scratch: [UInt8] = []
        let link = Array("abc".utf8).withUnsafeBytes { ChainHash.genesis.next(canonicalBytes: $0, scratch: &scratch) }
        #expect(link.description == "365aa7d8f7f9402c4b9434502b4cc89ddb09fe50d7cd95b493b834c62d5a5370")
    }

    @Test func hexRoundTripsAndRejectsNonHex() {
        let text = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
        #expect(ChainHash(hex: text)?.description == text)
        #expect(ChainHash(hex: "zz" + text.dropFirst(2)) == nil)
        #expect(ChainHash(hex: "abc") == nil)
    }
}
