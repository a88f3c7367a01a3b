import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthDomain

/// The plain-ASCII fast path of `EmailAddress` must give exactly what the full path gives:
/// the same display and lookup key, or the same rejection.
@Suite(.ownThreads) struct EmailFastPathTests {
    func outcome(_ body: () throws(Rejection) -> EmailAddress) -> Result<EmailAddress, Rejection> {
        do throws(Rejection) { return .success(try body()) } catch { return .failure(error) }
    }

    func expectSameAsFullPath(_ raw: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let fast = outcome { () throws(Rejection) in try EmailAddress(raw) }
        let full = outcome { () throws(Rejection) in try EmailAddress(validatingFully: raw) }
        #expect(fast == full, "\(raw.debugDescription)", sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        "user1@example.com", "a@b.co", "first.last+tag@sub.example.org", "x_y-z@a-b.c-d.io", "o'neil@example.ie",
        "!#$%&'*+/=?^_`{|}~-@example.com", "a@b.c1", "a@1.b2", "a@b.123", "a@b.c-", "a@-b.co", "a@b..co", ".a@b.co",
        "a.@b.co", "a..b@c.co", "a@@b.co", "plain", "a@b", "@b.co", "a@", "", "a\"b@c.co", "a(b@c.co", "a)b@c.co",
        "a,b@c.co", "a:b@c.co", "a;b@c.co", "a<b@c.co", "a>b@c.co", "a[b@c.co", "a\\b@c.co", "a]b@c.co", "a@b_c.co",
        "a@b.co.", "a@.b.co", "User@Example.com", "user@EXAMPLE.COM", " user@example.com", "user@example.com\n",
        "us er@example.com", "user@exa mple.com", "a\u{7}@b.co", "a\u{7F}@b.co", "amélie@example.com",
        "Ame\u{301}lie@Example.COM", "user@exämple.com", "a@b.c\u{301}o",
        String(repeating: "a", count: 64) + "@b.co", String(repeating: "a", count: 65) + "@b.co",
        "a@" + String(repeating: "b", count: 63) + ".co", "a@" + String(repeating: "b", count: 64) + ".co",
        "a@" + String(repeating: "b", count: 250) + ".co",
    ])
    func craftedInputsGiveTheSameResultBothWays(raw: String) {
        expectSameAsFullPath(raw)
    }

    @Test func randomInputsGiveTheSameResultBothWays() {
        // A seeded generator over an alphabet weighted towards what decides the rules.
        var random = SplitMix64(seed: 0x5EED_E4A1)
        let alphabet: [String] =
            ["a", "b", "z", "0", "9", ".", ".", "-", "-", "@", "@", "A", "Z", "_", "+", "\"", "(", ",", ":", "\\", "]"]
            + [" ", "\t", "\n", "\u{7}", "\u{7F}", "é", "\u{301}", "ß", "İ", "٣", "x", "y", "q"]
        for _ in 0..<20_000 {
            let length = Int(random.next() % 24)
            var raw = (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }.joined()
            if random.next() % 2 == 0 { raw += [".co", ".com", ".a1", ".1", "-.io"][Int(random.next() % 5)] }
            expectSameAsFullPath(raw)
        }
    }

    @Test func longRandomAddressesNearTheLimitsGiveTheSameResultBothWays() {
        var random = SplitMix64(seed: 42)
        for _ in 0..<2_000 {
            let local = String(repeating: "a", count: 60 + Int(random.next() % 8))
            let labels = (0..<(1 + Int(random.next() % 5))).map { _ in
                String(repeating: "b", count: 55 + Int(random.next() % 12))
            }
            expectSameAsFullPath(local + "@" + (labels + ["co"]).joined(separator: "."))
        }
    }

    @Test func plainAddressesTakeTheFastPathAndOthersDoNot() {
        #expect(EmailAddress.isPlainValidAddress("user123@example.com"))
        #expect(!EmailAddress.isPlainValidAddress("User123@example.com"))
        #expect(!EmailAddress.isPlainValidAddress("user123@example.com "))
        #expect(!EmailAddress.isPlainValidAddress("amélie@example.com"))
        #expect(!EmailAddress.isPlainValidAddress("a@b"))
    }
}

@Suite(.ownThreads) struct TokenHashDigestTests {
    @Test func theDigestIsSHA256() {
        // FIPS 180-2 test vector.
        #expect(
            TokenHash(of: Array("abc".utf8)).description
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            TokenHash(of: Array("".utf8)).description
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func contiguousAndOtherCollectionsHashAlike() throws {
        let text = "someone@example.com"
        #expect(TokenHash(of: text.utf8) == TokenHash(of: Array(text.utf8)))
        #expect(TokenHash(of: text.utf8.lazy.map { $0 }) == TokenHash(of: Array(text.utf8)))
        #expect(try EmailAddress(text).claimKey == TokenHash(of: Array(text.utf8)).bytes)
    }
}
