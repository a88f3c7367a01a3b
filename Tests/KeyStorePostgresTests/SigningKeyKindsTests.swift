import AccessTokens
import DataProtection
import EventLog
import Foundation
import KeyStorePostgres
import PostgresTestSupport
import Signatures
import TestSupport
import Testing

/// Access-token keys of both kinds in the shared store, including a store whose table was
/// made before ES256 (when it took Ed25519 keys only).
@Suite(.ownThreads, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct SigningKeyKindsTests {
    let kek = try! KeyEncryptionKey.generate()

    /// A store from before ES256 (its table's check takes 60-byte wraps only, and it holds an
    /// Ed25519 key) opened by this build: an ES256 key is added, and both verify.
    @Test func aTableFromBeforeES256TakesAnES256KeyAndKeepsItsEd25519One() throws {
        let database = try TestDatabase()
        let first = try PostgresKeyStore(url: database.url, kek: kek)
        let ed25519 = try first.accessTokenSigningKeys(algorithm: .eddsa)
        #expect(ed25519.map(\.key.algorithm) == [.eddsa])
        // The table as the build before ES256 made it.
        try database.run("ALTER TABLE authlog.signing_keys DROP CONSTRAINT signing_keys_wrapped_length")
        try database.run(
            "ALTER TABLE authlog.signing_keys ADD CONSTRAINT signing_keys_wrapped_check CHECK (length(wrapped) = 60)")
        // Under that check a P-256 key's wrap (149 bytes) cannot go in.
        #expect(throws: (any Error).self) {
            try database.run(
                "INSERT INTO authlog.signing_keys (kid, created_at, wrapped) VALUES ('y', 1, decode(repeat('00', 149), 'hex'))"
            )
        }

        let reopened = try PostgresKeyStore(url: database.url, kek: kek)
        let both = try reopened.accessTokenSigningKeys()
        #expect(both.map(\.key.algorithm) == [.eddsa, .es256])
        #expect(try reopened.accessTokenSigningKeys(algorithm: .eddsa).count == 2)  // none added
        let kid = try reopened.addAccessTokenSigningKey(algorithm: .es256)
        let keys = try SigningKeys(keys: try reopened.accessTokenSigningKeys())
        #expect(keys.algorithms == [.es256, .eddsa])
        let claims = AccessClaims(
            issuer: "authlog", audience: "authlog", subject: UUID(), role: "USER", sessionID: UUID(),
            issuedAt: 1_000, lifetime: 900, tokenID: "t1")
        let es256 = try AccessTokenIssuer(issuer: "authlog", audience: "authlog", keys: keys).sign(claims)
        #expect(try reopened.accessTokenSigningKeys().last?.kid == kid)
        let eddsa = try AccessTokenIssuer(
            issuer: "authlog", audience: "authlog",
            keys: try SigningKeys(keys: try reopened.accessTokenSigningKeys(), algorithm: .eddsa)
        ).sign(claims)
        let verifier = AccessTokenIssuer(issuer: "authlog", audience: "authlog", keys: keys)
        #expect(try verifier.verify(es256, now: 1_001) == claims)
        #expect(try verifier.verify(eddsa, now: 1_001) == claims)
        // Whatever else goes in is still refused by the check.
        #expect(throws: (any Error).self) {
            try database.run(
                "INSERT INTO authlog.signing_keys (kid, created_at, wrapped) VALUES ('x', 1, '\\x00'::bytea)")
        }
    }
}
