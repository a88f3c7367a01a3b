import DataProtection
import EventLog
import Foundation
import Signatures
import TestSupport
import Testing

@testable import AccessTokens

/// ES256 and EdDSA side by side: the key a token names decides its algorithm, and a header
/// that says otherwise, `none` or an HMAC is refused before any signature is checked.
@Suite(.ownThreads) struct AlgorithmTests {
    /// The key the test's key files are sealed under, as a data directory's would be.
    let sealing = FileSealingKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })

    func claims() -> AccessClaims {
        AccessClaims(
            issuer: "https://auth.example", audience: "https://auth.example", subject: UUID(), role: "USER",
            sessionID: UUID(), issuedAt: 1_000, lifetime: 900, tokenID: "jti-1")
    }

    func issuer(_ keys: SigningKeys) -> AccessTokenIssuer {
        AccessTokenIssuer(issuer: "https://auth.example", audience: "https://auth.example", keys: keys)
    }

    func header(of token: String) throws -> [String: Any] {
        let part = try #require(token.split(separator: ".").first)
        let bytes = try #require(Base64URL.decode(part))
        return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    /// A token with `header` over the payload of `token`, signed by `sign` (nil: the signature of `token`).
    func reheadered(_ token: String, _ header: String, sign: (([UInt8]) throws -> [UInt8])? = nil) throws -> String {
        let parts = token.split(separator: ".").map(String.init)
        let input = Base64URL.encode(Array(header.utf8)) + "." + parts[1]
        let signature = try sign.map { try Base64URL.encode($0(Array(input.utf8))) } ?? parts[2]
        return input + "." + signature
    }

    @Test func anEdDSAOnlyKeyFileGetsAnES256KeyAndItsTokensStillVerify() throws {
        let file = NSTemporaryDirectory() + "keys-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let before = try issuer(SigningKeys(file: file, algorithm: .eddsa, sealing: sealing))
        let old = try before.sign(claims())
        #expect(try header(of: old)["alg"] as? String == "EdDSA")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1)

        let after = try issuer(SigningKeys(file: file, sealing: sealing))
        #expect(try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").count == 2)
        #expect(permissionsOf(file) == 0o600)
        let new = try after.sign(claims())
        #expect(try header(of: new)["alg"] as? String == "ES256")
        #expect(try after.verify(old, now: 1_000).tokenID == "jti-1")
        #expect(try after.verify(new, now: 1_000).tokenID == "jti-1")
        #expect(after.keys.algorithms == [.es256, .eddsa])
        let jwks = try #require(after.keys.jwks["keys"] as? [[String: String]])
        #expect(jwks.map { $0["kty"] } == ["OKP", "EC"])
        #expect(jwks[1]["crv"] == "P-256" && jwks[1]["alg"] == "ES256" && jwks[1]["use"] == "sig")
        #expect(jwks[1]["x"].flatMap { Base64URL.decode($0) }?.count == 32)
        #expect(jwks[1]["y"].flatMap { Base64URL.decode($0) }?.count == 32)
        #expect(jwks.allSatisfy { $0["d"] == nil })
        // A second start adds nothing: the file has a key of each kind now.
        _ = try SigningKeys(file: file, sealing: sealing)
        _ = try SigningKeys(file: file, algorithm: .eddsa, sealing: sealing)
        #expect(try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").count == 2)
        // Back to EdDSA: its key signs again, the ES256 token still verifies.
        let back = try issuer(SigningKeys(file: file, algorithm: .eddsa, sealing: sealing))
        #expect(try header(of: back.sign(claims()))["alg"] as? String == "EdDSA")
        #expect(try back.verify(new, now: 1_000).tokenID == "jti-1")
    }

    @Test func aHeaderWhoseAlgorithmIsNotTheKeysIsRefused() throws {
        let file = NSTemporaryDirectory() + "keys-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = try SigningKeys(file: file, algorithm: .eddsa, sealing: sealing)
        let tokens = try issuer(SigningKeys(file: file, sealing: sealing))
        let es256 = try tokens.sign(claims())
        let eddsa = try issuer(SigningKeys(file: file, algorithm: .eddsa, sealing: sealing)).sign(claims())
        let ecKid = try #require(try header(of: es256)["kid"] as? String)
        let edKid = try #require(try header(of: eddsa)["kid"] as? String)
        let (_, edKey) = try #require(tokens.keys.keys.first { $0.kid == edKid })

        // The Ed25519 key signs, the header says EdDSA, but names the P-256 key.
        let crossed = try reheadered(
            es256, #"{"alg":"EdDSA","kid":"\#(ecKid)","typ":"at+jwt"}"#, sign: { try edKey.sign($0) })
        #expect(throws: AccessTokenError.rejected("algorithm does not match the key")) {
            try tokens.verify(crossed, now: 1_000)
        }
        let relabelled = try reheadered(es256, #"{"alg":"EdDSA","kid":"\#(ecKid)","typ":"at+jwt"}"#)
        #expect(throws: AccessTokenError.rejected("algorithm does not match the key")) {
            try tokens.verify(relabelled, now: 1_000)
        }
        let other = try reheadered(eddsa, #"{"alg":"ES256","kid":"\#(edKid)","typ":"at+jwt"}"#)
        #expect(throws: AccessTokenError.rejected("algorithm does not match the key")) {
            try tokens.verify(other, now: 1_000)
        }
        // HS256 (whatever its secret: a public key never serves as one), `none`, algorithms never used.
        for alg in ["HS256", "none", "ES384", "RS256", "es256", "EDDSA", ""] {
            let forged = try reheadered(es256, #"{"alg":"\#(alg)","kid":"\#(ecKid)","typ":"at+jwt"}"#)
            #expect(throws: AccessTokenError.rejected("algorithm must be ES256 or EdDSA"), "\(alg)") {
                try tokens.verify(forged, now: 1_000)
            }
        }
        let none =
            try reheadered(es256, #"{"alg":"none","typ":"at+jwt"}"#).split(separator: ".").prefix(2)
            .joined(separator: ".") + "."
        #expect(throws: AccessTokenError.rejected("algorithm must be ES256 or EdDSA")) {
            try tokens.verify(none, now: 1_000)
        }
        // The untouched tokens verify.
        #expect(try tokens.verify(es256, now: 1_000).tokenID == "jti-1")
        #expect(try tokens.verify(eddsa, now: 1_000).tokenID == "jti-1")
    }

    @Test func aKeySetWithoutAKeyOfItsAlgorithmIsRefused() throws {
        let ed = try TokenKey.generate(.eddsa)
        #expect(throws: AccessTokenError.key("no ES256 access-token signing key")) {
            try SigningKeys(keys: [(Base64URL.encode(ed.publicKeyID), ed)])
        }
        let keys = try SigningKeys(keys: [(Base64URL.encode(ed.publicKeyID), ed)], algorithm: .eddsa)
        #expect(keys.algorithms == [.eddsa])
        #expect(TokenAlgorithm(option: "ES256") == .es256 && TokenAlgorithm(option: "eddsa") == .eddsa)
        #expect(TokenAlgorithm(option: "rs256") == nil)
    }

    func permissionsOf(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? nil
    }
}
