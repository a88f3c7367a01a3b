import EventLog
import Foundation
import Signatures
import Synchronization
import TestSupport
import Testing

@testable import AccessTokens

/// Keys from a shared source: a key another node added verifies here without a restart, and
/// unknown kids do not make the source be read more than once per interval.
@Suite(.ownThreads) struct SigningKeysReloadTests {
    /// A source of keys, as the shared database is: a list that grows, and a count of reads.
    final class Source: Sendable {
        let keys: Mutex<[SigningKeys.Entry]>
        let reads = Atomic<Int>(0)

        init() throws { keys = Mutex([try Self.newKey()]) }

        static func newKey() throws -> SigningKeys.Entry {
            let key = try TokenKey.generate(.es256)
            return (Base64URL.encode(key.publicKeyID), key)
        }

        func add() throws {
            let key = try Self.newKey()
            keys.withLock { $0.append(key) }
        }
        func read() -> [SigningKeys.Entry] {
            reads.add(1, ordering: .relaxed)
            return keys.withLock { $0 }
        }
        func issuer(interval: Duration) throws -> AccessTokenIssuer {
            AccessTokenIssuer(
                issuer: "authlog", audience: "authlog",
                keys: try SigningKeys(keys: read(), reload: { self.read() }, minimumReloadInterval: interval))
        }
    }

    func claims(at time: Int64 = 1_000) -> AccessClaims {
        AccessClaims(
            issuer: "authlog", audience: "authlog", subject: UUID(), role: "USER", sessionID: UUID(), issuedAt: time,
            lifetime: 900, tokenID: "jti")
    }

    @Test func aKeyAnotherNodeAddedVerifiesWithoutARestart() throws {
        let source = try Source()
        let running = try source.issuer(interval: .seconds(3600))
        let before = try running.sign(claims())
        try source.add()
        // A node started after the rotation signs with the new key.
        let started = try source.issuer(interval: .seconds(3600))
        let after = try started.sign(claims())
        #expect(started.keys.signer.kid != running.keys.signer.kid)
        let readsBefore = source.reads.load(ordering: .relaxed)
        #expect(try running.verify(after, now: 1_001).tokenID == "jti")
        #expect(source.reads.load(ordering: .relaxed) == readsBefore + 1)
        // It knows the key now: no more reads, and the old tokens still verify.
        #expect(try running.verify(after, now: 1_001).tokenID == "jti")
        #expect(try running.verify(before, now: 1_001).tokenID == "jti")
        #expect(source.reads.load(ordering: .relaxed) == readsBefore + 1)
        // After the reload the source's newest key signs here too, and its tokens name it.
        #expect(running.keys.signer.kid == started.keys.signer.kid)
        let signedAfterReload = try running.sign(claims())
        let header = try #require(signedAfterReload.split(separator: ".").first.flatMap { Base64URL.decode($0) })
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(header)) as? [String: Any])
        #expect(fields["kid"] as? String == started.keys.signer.kid)
        #expect(try started.verify(signedAfterReload, now: 1_001).tokenID == "jti")
    }

    @Test func unknownKidsReadTheSourceAtMostOncePerInterval() throws {
        let source = try Source()
        let running = try source.issuer(interval: .seconds(3600))
        let stranger = try AccessTokenIssuer(
            issuer: "authlog", audience: "authlog", keys: SigningKeys(keys: [Source.newKey()]))
        let forged = try stranger.sign(claims())
        let readsBefore = source.reads.load(ordering: .relaxed)
        for _ in 0..<5 {
            #expect(throws: AccessTokenError.rejected("unknown key id")) { try running.verify(forged, now: 1_001) }
        }
        #expect(source.reads.load(ordering: .relaxed) == readsBefore + 1)
        // Within the interval a key added meanwhile is not seen yet; it is once the interval passed.
        try source.add()
        let fresh = try source.issuer(interval: .zero).sign(claims())
        #expect(throws: AccessTokenError.rejected("unknown key id")) { try running.verify(fresh, now: 1_001) }
        let eager = try AccessTokenIssuer(
            issuer: "authlog", audience: "authlog",
            keys: SigningKeys(
                keys: [source.keys.withLock { $0[0] }], reload: { source.read() }, minimumReloadInterval: .zero))
        #expect(try eager.verify(fresh, now: 1_001).tokenID == "jti")
    }

    @Test func aFailingOrEmptyReloadKeepsTheKeysHeld() throws {
        let key = try Source.newKey()
        struct Unreachable: Error {}
        for reload: @Sendable () throws -> [SigningKeys.Entry] in [{ throw Unreachable() }, { [] }] {
            let tokens = AccessTokenIssuer(
                issuer: "authlog", audience: "authlog",
                keys: try SigningKeys(keys: [key], reload: reload, minimumReloadInterval: .zero))
            let stranger = AccessTokenIssuer(
                issuer: "authlog", audience: "authlog", keys: try SigningKeys(keys: [Source.newKey()]))
            #expect(throws: AccessTokenError.rejected("unknown key id")) {
                try tokens.verify(try stranger.sign(claims()), now: 1_001)
            }
            #expect(try tokens.verify(try tokens.sign(claims()), now: 1_001).tokenID == "jti")
            // The key that signs, and the header that names it, stay those held.
            #expect(tokens.keys.signer.kid == key.kid)
            let header = AccessTokenIssuer.encodedHeader(kid: key.kid, algorithm: .es256)
            #expect(tokens.keys.signer.encodedHeader == header)
        }
    }
}
