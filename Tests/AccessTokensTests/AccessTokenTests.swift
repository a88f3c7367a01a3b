import DataProtection
import EventLog
import Foundation
import Signatures
import TestSupport
import Testing

@testable import AccessTokens

@Suite(.ownThreads) struct Ed25519Tests {
    /// RFC 8037 appendix A.4: the JWS of "Example of Ed25519 signing" with the appendix A.1 key.
    @Test func matchesRFC8037() throws {
        let key = try Ed25519Key(privateKey: Base64URL.decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")!)
        #expect(Base64URL.encode(key.publicKey) == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
        let input = "eyJhbGciOiJFZERTQSJ9." + Base64URL.encode(Array("Example of Ed25519 signing".utf8))
        #expect(input == "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc")
        let signature = try key.sign(Array(input.utf8))
        #expect(
            Base64URL.encode(signature)
                == "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
        let verifier = try Ed25519Key(publicKey: key.publicKey)
        #expect(verifier.verify(signature, of: Array(input.utf8)))
        #expect(!verifier.verify(signature, of: Array((input + "x").utf8)))
    }
}

@Suite(.ownThreads) struct AccessTokenTests {
    /// The key the test's key files are sealed under, as a data directory's would be.
    let sealing = FileSealingKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })

    func issuer(_ file: String, audience: String = "authlog") throws -> AccessTokenIssuer {
        AccessTokenIssuer(
            issuer: "https://auth.example", audience: audience, keys: try SigningKeys(file: file, sealing: sealing))
    }

    func claims(at time: Int64 = 1_000) -> AccessClaims {
        AccessClaims(
            issuer: "https://auth.example", audience: "authlog", subject: UUID(), role: "ADMIN", sessionID: UUID(),
            issuedAt: time, lifetime: 900, tokenID: "jti-1")
    }

    /// The header and payload a token carries, byte for byte: the claims in the order the
    /// token has always written them, numbers as integers, ids in lowercase.
    @Test func aTokensHeaderAndPayloadAreTheExactJSON() throws {
        let file = NSTemporaryDirectory() + "keys-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let tokens = try issuer(file)
        let subject = try #require(UUID(uuidString: "8F1D2C3B-4A59-4687-9A1B-2C3D4E5F6A7B"))
        let session = try #require(UUID(uuidString: "01234567-89AB-CDEF-0123-456789ABCDEF"))
        let claims = AccessClaims(
            issuer: "https://auth.example", audience: "authlog", subject: subject, role: "ADMIN", sessionID: session,
            issuedAt: 1_700_000_000, lifetime: 900, tokenID: "jti-1")
        let parts = try tokens.sign(claims).split(separator: ".", omittingEmptySubsequences: false)
        try #require(parts.count == 3)
        let header = String(decoding: try #require(Base64URL.decode(parts[0])), as: UTF8.self)
        let payload = String(decoding: try #require(Base64URL.decode(parts[1])), as: UTF8.self)
        #expect(header == #"{"alg":"ES256","kid":"\#(tokens.keys.signer.kid)","typ":"at+jwt"}"#)
        #expect(
            payload
                == #"{"aud":"authlog","exp":1700000900,"iat":1700000000,"iss":"https://auth.example","jti":"jti-1","#
                + #""nbf":1700000000,"role":"ADMIN","sid":"01234567-89ab-cdef-0123-456789abcdef","#
                + #""sub":"8f1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b"}"#)
    }

    /// An issuer or audience with a character JSON must escape still makes a token that
    /// verifies: the claims are JSON strings, not text pasted between quotes.
    @Test func claimsThatJSONMustEscapeStillMakeAValidToken() throws {
        let file = NSTemporaryDirectory() + "keys-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let odd = #"https://auth.example/"quoted"\path"#
        let audience = "a\tb\u{01}c\u{2028}d"
        let tokens = AccessTokenIssuer(
            issuer: odd, audience: audience, keys: try SigningKeys(file: file, sealing: sealing))
        var claims = claims()
        claims.issuer = odd
        claims.audience = audience
        let verified = try tokens.verify(try tokens.sign(claims), now: 1_000)
        #expect(verified.issuer == odd)
        #expect(verified.audience == audience)
    }

    /// A key file's kid may hold any character but a space: one that JSON must escape still
    /// makes tokens that verify, under that kid.
    @Test func aKidThatJSONMustEscapeStillMakesAValidToken() throws {
        let file = NSTemporaryDirectory() + "keys-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let odd = #"k"i\d"#
        let key = try TokenKey.generate(.es256)
        let line = try SigningKeys.sealedLine(kid: odd, privateKey: try #require(key.privateKey), sealing: sealing)
        #expect(FileManager.default.createFile(atPath: file, contents: Data(line)))
        let tokens = try issuer(file)
        let claims = claims()
        let token = try tokens.sign(claims)
        let encoded = try #require(token.split(separator: ".").first)
        let header = try #require(Base64URL.decode(encoded))
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(header)) as? [String: Any])
        #expect(fields["kid"] as? String == odd)
        #expect(try tokens.verify(token, now: 1_000).subject == claims.subject)
    }

    @Test func signedTokensVerifyAndCarryTheirClaims() throws {
        let file = NSTemporaryDirectory() + "keys-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let tokens = try issuer(file)
        #expect((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) == 0o600)
        let original = claims()
        let token = try tokens.sign(original)
        #expect(try tokens.verify(token, now: 1_000) == original)
        #expect(throws: AccessTokenError.rejected("expired")) { try tokens.verify(token, now: 1_900) }
        #expect(throws: AccessTokenError.rejected("not valid yet")) { try tokens.verify(token, now: 999) }
        #expect(throws: AccessTokenError.rejected("wrong audience")) {
            try self.issuer(file, audience: "other").verify(token, now: 1_000)
        }
    }

    @Test func forgedNoneAndForeignTokensAreRefused() throws {
        let file = NSTemporaryDirectory() + "keys-" + UUID().uuidString
        let other = NSTemporaryDirectory() + "keys-" + UUID().uuidString
        defer {
            try? FileManager.default.removeItem(atPath: file)
            try? FileManager.default.removeItem(atPath: other)
        }
        let tokens = try issuer(file)
        let token = try tokens.sign(claims())
        let parts = token.split(separator: ".").map(String.init)
        let none = Base64URL.encode(Array("{\"alg\":\"none\",\"typ\":\"at+jwt\"}".utf8)) + "." + parts[1] + "."
        #expect(throws: AccessTokenError.self) { try tokens.verify(none, now: 1_000) }
        let tampered = parts[0] + "." + Base64URL.encode(Array("{\"sub\":\"x\"}".utf8)) + "." + parts[2]
        #expect(throws: AccessTokenError.rejected("bad signature")) { try tokens.verify(tampered, now: 1_000) }
        let foreign = try issuer(other).sign(claims())
        #expect(throws: AccessTokenError.rejected("unknown key id")) { try tokens.verify(foreign, now: 1_000) }
        #expect(throws: AccessTokenError.self) { try tokens.verify("garbage", now: 1_000) }
    }

    @Test func aRotatedKeySignsAndTheOldOneStillVerifies() throws {
        let file = NSTemporaryDirectory() + "keys-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let old = try issuer(file).sign(claims())
        try SigningKeys.append(to: file, sealing: sealing)
        let rotated = try issuer(file)
        #expect(try rotated.verify(old, now: 1_000).tokenID == "jti-1")
        let new = try rotated.sign(claims())
        #expect(new.split(separator: ".")[0] != old.split(separator: ".")[0])
        #expect((rotated.keys.jwks["keys"] as? [[String: String]])?.count == 2)
    }
}
