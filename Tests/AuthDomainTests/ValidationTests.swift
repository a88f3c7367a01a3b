import Foundation
import TestSupport
import Testing

@testable import AuthDomain

@Suite(.ownThreads) struct EmailAddressTests {
    @Test func addressesAreTrimmedNormalisedAndKeyedInLowerCase() throws {
        let email = try EmailAddress("  Ame\u{301}lie@Example.COM \n")
        #expect(email.display == "Am\u{E9}lie@Example.COM")
        #expect(email.lookupKey == "am\u{E9}lie@example.com")
        #expect(try EmailAddress("amélie@example.com").claimKey == email.claimKey)
    }

    @Test(arguments: [
        "", "plain", "a@b", "a@@b.co", "a b@c.co", "a@b..co", ".a@b.co", "a.@b.co", "a@-b.co", "a@b.c-",
        "a\u{7}@b.co", "a@b.123", String(repeating: "a", count: 65) + "@b.co",
        "a@" + String(repeating: "b", count: 250) + ".co",
    ])
    func malformedAddressesAreRefusedWithAReason(raw: String) {
        #expect(throws: Rejection.self) { try EmailAddress(raw) }
    }

    @Test func theLengthLimitIs254Bytes() throws {
        let local = String(repeating: "a", count: 64)
        let domain =
            String(repeating: "b", count: 63) + "." + String(repeating: "c", count: 63) + "."
            + String(repeating: "d", count: 58) + ".co"
        #expect((local + "@" + domain).utf8.count == 254)
        #expect(throws: Never.self) { try EmailAddress(local + "@" + domain) }
        #expect(throws: Rejection.self) { try EmailAddress(local + "@x" + domain) }
    }
}

@Suite(.ownThreads) struct PasswordPolicyTests {
    let policy = try! PasswordPolicy()

    @Test func theMinimumIs15ScalarsAfterNFCByDefault() throws {
        #expect(throws: Rejection.weakPassword("it must be at least 15 characters long (it has 14)")) {
            try policy.check("correct horse!")
        }
        #expect(try policy.check("correct horse!!") == "correct horse!!")
        // 14 letters plus e + combining acute: NFC makes it 15 scalars.
        #expect(try policy.check("abcdefghijklmne\u{301}").unicodeScalars.count == 15)
        #expect(throws: Rejection.self) { try policy.check("abcdefghijklmn\u{301}") }
    }

    @Test func sixtyFourIsAlwaysAcceptedAnd256IsTheMaximum() throws {
        let strict = try PasswordPolicy(minimumLength: 64)
        #expect(throws: Never.self) { try strict.check(String(repeating: "ab", count: 32)) }
        #expect(throws: Never.self) { try policy.check(String(repeating: "z", count: 256)) }
        #expect(throws: Rejection.self) { try policy.check(String(repeating: "z", count: 257)) }
        #expect(throws: Rejection.self) { try PasswordPolicy(minimumLength: 7) }
        #expect(throws: Rejection.self) { try PasswordPolicy(minimumLength: 65) }
    }

    @Test func commonPasswordsAreRefusedCaseInsensitivelyWithTheReason() throws {
        #expect(CommonPasswords.bundled.count == 30_000)
        let lenient = try PasswordPolicy(minimumLength: 8)
        #expect(throws: Rejection.weakPassword("it is on the list of the 30,000 most common passwords; choose another"))
        {
            try lenient.check("PassWord")
        }
        #expect(throws: Never.self) { try lenient.check("gribble-Wobble") }
    }

    @Test func thereAreNoCompositionRules() {
        #expect(throws: Never.self) { try policy.check("all lower case words here") }
    }
}

@Suite(.ownThreads) struct NameValidationTests {
    func reason(_ name: String) -> String? {
        do {
            _ = try ProfileField.name(name, field: "first_name")
            return nil
        } catch {
            if case .invalidField(_, let reason) = error { return reason }
            return "\(error)"
        }
    }

    @Test func namesAreLimitedInBytesAsWellAsCharacters() throws {
        #expect(reason("a" + String(repeating: "\u{0301}", count: 16_000))?.contains("bytes") == true)
        #expect(reason("a" + String(repeating: "\u{0301}", count: 250))?.contains("bytes") == true)
        #expect(reason(String(repeating: "𝒜", count: 100)) == nil)  // 400 bytes
        #expect(reason(String(repeating: "𝒜", count: 100) + "b")?.contains("bytes") == true)
        #expect(reason(String(repeating: "a", count: 101))?.contains("100 characters") == true)
        #expect(try ProfileField.name("  Zoe\u{0308} ", field: "f") == "Zoë")
    }

    @Test(arguments: [
        "\u{202A}", "\u{202B}", "\u{202C}", "\u{202D}", "\u{202E}", "\u{2066}", "\u{2067}", "\u{2068}", "\u{2069}",
        "\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{00AD}", "\u{2028}", "\u{2029}", "\u{7F}",
        "\u{1B}", "\u{85}", "\u{115F}", "\u{1160}", "\u{3164}", "\u{FFA0}", "\u{2800}", "\u{E000}",
    ])
    func invisibleAndControlCharactersAreRefused(_ character: String) {
        #expect(
            reason("Eve" + character + "Adams") != nil, "U+\(String(character.unicodeScalars.first!.value, radix: 16))")
    }

    @Test func namesInEveryScriptAreAccepted() {
        for name in ["Ngũgĩ wa Thiong'o", "Сергей", "محمد", "さくら", "김민준", "Ólafur Ragnar", "O'Brien-Smith", "अक्षय"] {
            #expect(reason(name) == nil, "\(name)")
        }
    }
}
