import COpenSSL
import DataProtection
import EventLog
import EventLogPostgres
import Foundation
import PostgresNIO

/// What a rotation of the key-encryption key of a PostgreSQL store did (no key material).
public struct PostgresKeyRotation: Sendable, Equatable {
    /// Data keys re-wrapped under the new key.
    public var dataKeys = 0
    /// Access-token signing keys re-wrapped under the new key.
    public var signingKeys = 0
    /// The store was under the new key already; nothing was done.
    public var alreadyDone = false
}

extension PostgresKeyStore {
    /// Re-wraps every data key, the log's signing key and every access-token signing key from
    /// `old` to `new`, and writes `new`'s check value, in ONE transaction on the database `url`
    /// names: no reader ever sees keys under both, and a rotation stopped at any point (killed,
    /// a lost connection, a key that does not open) leaves the old state whole.
    ///
    /// Rules:
    /// - The meta row is locked first (`FOR UPDATE`): writers of wrapped keys hold it shared
    ///   (see ``PostgresKeyStore``), so none writes under the old key after the rotation, and
    ///   none is half done when it reads the keys.
    /// - Refused with ``DataProtectionError/wrongKey(_:)`` when `old` is not the stored keys'
    ///   key; a store under `new` already is left alone (``PostgresKeyRotation/alreadyDone``),
    ///   so running it again after an uncertain end is safe.
    /// - Nodes running keep their cached keys; each must be restarted with `new` (until then
    ///   its writes are refused and its reads of uncached keys fail with `wrongKey`).
    /// - Destroyed keys are gone already (deleted, the table rewritten); the old key opens
    ///   what older backups and write-ahead log segments hold, so destroy every copy of it.
    public static func rotateKeyEncryptionKey(
        url: String, from old: KeyEncryptionKey, to new: KeyEncryptionKey
    ) throws -> PostgresKeyRotation {
        guard new.bytes != old.bytes else {
            throw DataProtectionError.wrongKey("the new key-encryption key is the one in use")
        }
        let (configuration, location) = try translating { () throws(EventLogError) in
            try PostgresEventLog.configuration(url: url)
        }
        guard let stored = try storedCheckValue(configuration: configuration, location: location) else {
            throw DataProtectionError.keyStore("\(location) holds no key store: there is no key to re-wrap")
        }
        if stored == new.checkValue { return PostgresKeyRotation(alreadyDone: true) }
        // Opening checks `old` against the meta row.
        let store = try PostgresKeyStore(configuration: configuration, location: location, kek: old, connections: 1)
        defer { store.close() }
        return try store.rotate(to: new)
    }

    /// The check value the meta row holds, or `nil` without one (or without the table).
    static func storedCheckValue(
        configuration: PostgresConnection.Configuration, location: String
    ) throws -> [UInt8]? {
        let server = PostgresServer(configuration: configuration, location: location)
        let pool = ConnectionPool(server: server, limit: 1)
        defer { pool.close() }
        return try run(on: pool) { connection in
            let table = try connection.run("SELECT to_regclass('authlog.key_meta') IS NOT NULL").first?.column(
                Bool.self)
            guard table == true else { return nil }
            return try connection.run("SELECT kek_check FROM authlog.key_meta").first.map {
                row throws(EventLogError) in Array(buffer: try row.column(ByteBuffer.self))
            }
        }
    }

    private func rotate(to new: KeyEncryptionKey) throws -> PostgresKeyRotation {
        let old = kek
        return try inTransaction { connection in
            var rotation = PostgresKeyRotation()
            let meta = try connection.run("SELECT kek_check, log_signing_key FROM authlog.key_meta FOR UPDATE")
            guard let row = meta.first else { throw DataProtectionError.keyStore("\(location) has no key meta row") }
            let (check, signing) = try row.columns((ByteBuffer, ByteBuffer).self)
            if Array(buffer: check) == new.checkValue { return PostgresKeyRotation(alreadyDone: true) }
            guard Array(buffer: check) == old.checkValue else {
                throw DataProtectionError.wrongKey(
                    "the key-encryption key is not the one that wrapped the keys in \(location)")
            }
            let signingKey = ByteBuffer(
                bytes: try Self.rewrap(Array(buffer: signing), context: KeyStore.logSigningContext, from: old, to: new))
            let newCheck = ByteBuffer(bytes: new.checkValue)
            _ = try connection.run(
                "UPDATE authlog.key_meta SET kek_check = \(newCheck), log_signing_key = \(signingKey)")

            let keys = try connection.run("SELECT user_id, wrapped FROM authlog.data_keys ORDER BY user_id").map {
                row throws(EventLogError) in
                let (user, wrapped) = try row.columns((UUID, ByteBuffer).self)
                return (user, Array(buffer: wrapped))
            }
            for start in stride(from: 0, to: keys.count, by: 10_000) {
                var users: [UUID] = []
                var wrapped: [ByteBuffer] = []
                for (user, stored) in keys[start..<min(start + 10_000, keys.count)] {
                    users.append(user)
                    wrapped.append(
                        ByteBuffer(
                            bytes: try Self.rewrap(stored, context: KeyStore.wrapContext(for: user), from: old, to: new)
                        ))
                }
                _ = try connection.run(
                    """
                    UPDATE authlog.data_keys AS stored SET wrapped = fresh.wrapped
                    FROM unnest(\(users)::uuid[], \(wrapped)::bytea[]) AS fresh (user_id, wrapped)
                    WHERE stored.user_id = fresh.user_id
                    """)
                rotation.dataKeys += users.count
            }

            let signingKeys = try connection.run("SELECT kid, wrapped FROM authlog.signing_keys").map {
                row throws(EventLogError) in
                let (kid, wrapped) = try row.columns((String, ByteBuffer).self)
                return (kid, Array(buffer: wrapped))
            }
            for (kid, stored) in signingKeys {
                let wrapped = ByteBuffer(
                    bytes: try Self.rewrap(stored, context: Self.signingKeyContext(kid), from: old, to: new))
                _ = try connection.run("UPDATE authlog.signing_keys SET wrapped = \(wrapped) WHERE kid = \(kid)")
                rotation.signingKeys += 1
            }
            return rotation
        }
    }

    /// `wrapped` (nonce, ciphertext, tag) opened under `old` and sealed under `new` with a fresh
    /// nonce; one that does not open under `old` is ``DataProtectionError/tampered``.
    static func rewrap(
        _ wrapped: [UInt8], context: [UInt8], from old: KeyEncryptionKey, to new: KeyEncryptionKey
    ) throws -> [UInt8] {
        var key = try wrapped.withUnsafeBytes { try AESGCM.open($0, key: old.bytes, associatedData: context) }
        defer { key.withUnsafeMutableBytes { cleanse($0) } }
        return try AESGCM.seal(key, key: new.bytes, associatedData: context)
    }
}
