import COpenSSL
import DataProtection
import EventLog
import Foundation
import PostgresNIO
import Signatures

/// The access tokens' signing keys, wrapped by the key-encryption key, shared by every node.
///
/// Rules: the newest key of the configured algorithm (by creation time, then kid) signs,
/// every key of either kind verifies; a key is added, never changed; the list holds a key of
/// the algorithm once ``accessTokenSigningKeys(algorithm:)`` ran. A key's wrapped secret is
/// its ``TokenKey`` stored form (an Ed25519 seed, or a P-256 key in DER), so keys from
/// before ES256 read unchanged and the table needs no column for the kind.
extension PostgresKeyStore {
    /// The associated data of an access-token signing key's wrap.
    static func signingKeyContext(_ kid: String) -> [UInt8] {
        Array(SealedSecretPlace.accessTokenSigningKey(kid).text.utf8)
    }

    /// Every access-token signing key, oldest first (the last of `algorithm` signs),
    /// unwrapped; one of `algorithm` is created if there is none (the first start, or the first
    /// with an algorithm the store has no key of). For `SigningKeys(keys:algorithm:reload:)`,
    /// as its list and its reload.
    public func accessTokenSigningKeys(algorithm: TokenAlgorithm = .es256) throws -> [(kid: String, key: TokenKey)] {
        let stored = try storedSigningKeys()
        if stored.contains(where: { $0.key.algorithm == algorithm }) { return stored }
        _ = try addSigningKey(algorithm, onlyIfNone: true)
        return try storedSigningKeys()
    }

    /// Adds a new access-token signing key of `algorithm` (it signs from then on, on every
    /// node that signs with that algorithm and reloads: see `SigningKeys`); returns its kid.
    @discardableResult
    public func addAccessTokenSigningKey(algorithm: TokenAlgorithm = .es256) throws -> String {
        try addSigningKey(algorithm, onlyIfNone: false)
    }

    private func storedSigningKeys() throws -> [(kid: String, key: TokenKey)] {
        let rows = try run { connection in
            try connection.run("SELECT kid, wrapped FROM authlog.signing_keys ORDER BY created_at, kid").map {
                row throws(EventLogError) in
                let (kid, wrapped) = try row.columns((String, ByteBuffer).self)
                return (kid, Array(buffer: wrapped))
            }
        }
        return try rows.map { kid, wrapped in
            var seed = try unwrap(wrapped, context: Self.signingKeyContext(kid))
            defer { seed.withUnsafeMutableBytes { cleanse($0) } }
            return (kid, try Self.translating { () throws(SignatureError) in try TokenKey(privateKey: seed) })
        }
    }

    private func addSigningKey(_ algorithm: TokenAlgorithm, onlyIfNone: Bool) throws -> String {
        let key = try Self.translating { () throws(SignatureError) in try TokenKey.generate(algorithm) }
        var seed = key.privateKey ?? []
        defer { seed.withUnsafeMutableBytes { cleanse($0) } }
        let kid = Base64URL.encode(key.publicKeyID)
        let wrapped = ByteBuffer(
            bytes: try AESGCM.seal(seed, key: kek.bytes, associatedData: Self.signingKeyContext(kid)))
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        try inTransaction { connection in
            try checkKeyUnderSharedLock(on: connection)
            if onlyIfNone {
                // Nodes starting together create one first key, not one each.
                _ = try connection.run("LOCK TABLE authlog.signing_keys IN SHARE ROW EXCLUSIVE MODE")
                let rows = try connection.run("SELECT kid, wrapped FROM authlog.signing_keys").map {
                    row throws(EventLogError) in
                    let (kid, wrapped) = try row.columns((String, ByteBuffer).self)
                    return (kid, Array(buffer: wrapped))
                }
                for (kid, wrapped) in rows {
                    var secret = try unwrap(wrapped, context: Self.signingKeyContext(kid))
                    defer { secret.withUnsafeMutableBytes { cleanse($0) } }
                    if (try? TokenKey(privateKey: secret))?.algorithm == algorithm { return }
                }
            }
            _ = try connection.run(
                "INSERT INTO authlog.signing_keys (kid, created_at, wrapped) VALUES (\(kid), \(now), \(wrapped))")
        }
        return kid
    }
}
