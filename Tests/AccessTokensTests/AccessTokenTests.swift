import EventLog
import Foundation
import Signatures
import Testing

@testable import AccessTokens

@Suite struct Ed25519Tests {
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

@Suite struct AccessTokenTests {
    func issuer(_ file: String, audience: String = "authlog") throws -> AccessTokenIssuer {
        AccessTokenIssuer(issuer: "https://auth.example", audience: audience, keys: try SigningKeys(file: file))
    }

    func claims(at time: Int64 = 1_000) -> AccessClaims {
        AccessClaims(
            issuer: "https://auth.example", audience: "authlog", subject: UUID(), role: "ADMIN", sessionID: UUID(),
            issuedAt: time, lifetime: 900, tokenID: "jti-1")
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
        try SigningKeys.append(to: file)
        let rotated = try issuer(file)
        #expect(try rotated.verify(old, now: 1_000).tokenID == "jti-1")
        let new = try rotated.sign(claims())
        #expect(new.split(separator: ".")[0] != old.split(separator: ".")[0])
        #expect((rotated.keys.jwks["keys"] as? [[String: String]])?.count == 2)
    }
}
