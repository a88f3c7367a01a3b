import COpenSSL
import DataProtection
import EventLog
import Foundation
import PostgresNIO
import Signatures

/// The access tokens' signing keys, wrapped by the key-encryption key, shared by every node.
///
/// Rules: the newest key (by creation time, then kid) signs, every key verifies; a key is
/// added, never changed; the list is never empty once ``accessTokenSigningKeys()`` ran.
extension PostgresKeyStore {
    /// The associated data of an access-token signing key's wrap.
    static func signingKeyContext(_ kid: String) -> [UInt8] {
        Array("authlog access-token signing key ".utf8) + Array(kid.utf8)
    }

    /// Every access-token signing key, oldest first (the last signs), unwrapped; the first is
    /// created if there is none. For `SigningKeys(keys:reload:)`, as its list and its reload.
    public func accessTokenSigningKeys() throws -> [(kid: String, key: Ed25519Key)] {
        let stored = try storedSigningKeys()
        if !stored.isEmpty { return stored }
        try addSigningKey(onlyIfNone: true)
        return try storedSigningKeys()
    }

    /// Adds a new access-token signing key (it signs from then on, on every node that
    /// reloads: see `SigningKeys`); returns its kid.
    @discardableResult
    public func addAccessTokenSigningKey() throws -> String {
        try addSigningKey(onlyIfNone: false)
    }

    private func storedSigningKeys() throws -> [(kid: String, key: Ed25519Key)] {
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
            return (kid, try Self.translating { () throws(SignatureError) in try Ed25519Key(privateKey: seed) })
        }
    }

    private func addSigningKey(onlyIfNone: Bool) throws -> String {
        let key = try Self.translating { () throws(SignatureError) in try Ed25519Key.generate() }
        var seed = key.privateKey ?? []
        defer { seed.withUnsafeMutableBytes { cleanse($0) } }
        let kid = Base64URL.encode(key.publicKey.prefix(12))
        let wrapped = ByteBuffer(
            bytes: try AESGCM.seal(seed, key: kek.bytes, associatedData: Self.signingKeyContext(kid)))
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        try inTransaction { connection in
            try checkKeyUnderSharedLock(on: connection)
            if onlyIfNone {
                // Nodes starting together create one first key, not one each.
                _ = try connection.run("LOCK TABLE authlog.signing_keys IN SHARE ROW EXCLUSIVE MODE")
                let held = try connection.run("SELECT count(*) FROM authlog.signing_keys").first?.column(Int64.self)
                if (held ?? 0) > 0 { return }
            }
            _ = try connection.run(
                "INSERT INTO authlog.signing_keys (kid, created_at, wrapped) VALUES (\(kid), \(now), \(wrapped))")
        }
        return kid
    }
}
