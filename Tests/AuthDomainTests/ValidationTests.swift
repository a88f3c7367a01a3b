import Foundation
import Testing

@testable import AuthDomain

@Suite struct EmailAddressTests {
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

@Suite struct PasswordPolicyTests {
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
