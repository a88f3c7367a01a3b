import COpenSSL
import DataProtection
import EventLog
import EventLogPostgres
import Foundation
import PostgresNIO

/// The key store's tables, in the log's schema `authlog` (see docs/architecture.md):
///
/// - `key_meta`: one row: the store's format (`authlog.keys/1`), the key-encryption key's
///   check value (a node with another key is refused), and the log's signing key (its Ed25519
///   private key, wrapped with `authlog log signing key` as associated data: nonce, ciphertext,
///   tag, 60 bytes).
/// - `data_keys (user_id, wrapped)`: each user's data key wrapped with `authlog data key ` and
///   the user id as associated data (60 bytes), as the file store's slots hold it.
/// - `signing_keys (kid, created_at, wrapped)`: the access tokens' keys, wrapped with
///   `authlog access-token signing key ` and the kid as associated data: 60 bytes for an
///   Ed25519 seed, 149 for a P-256 key (121 bytes of SEC 1 DER). A table from before ES256,
///   which took 60 bytes only, is given the new check when a store opens it.
extension PostgresKeyStore {
    static let formatMarker = "authlog.keys/1"

    /// Why a store opened without creating it (``prepareKeyTables(on:kek:location:createIfMissing:)``) was refused.
    static func noStore(_ location: String) -> String {
        "\(location) holds no key store yet: a node's first start makes it, or an authctl command that writes"
    }

    static let creation = [
        """
        CREATE TABLE IF NOT EXISTS authlog.key_meta (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            format text NOT NULL,
            kek_check bytea NOT NULL CHECK (length(kek_check) = 32),
            log_signing_key bytea NOT NULL CHECK (length(log_signing_key) = 60))
        """,
        """
        CREATE TABLE IF NOT EXISTS authlog.data_keys (
            user_id uuid PRIMARY KEY,
            wrapped bytea NOT NULL CHECK (length(wrapped) = 60))
        """,
        """
        CREATE TABLE IF NOT EXISTS authlog.signing_keys (
            kid text PRIMARY KEY,
            created_at bigint NOT NULL,
            wrapped bytea NOT NULL CONSTRAINT signing_keys_wrapped_length CHECK (length(wrapped) IN (60, 149)))
        """,
        """
        DO $$ BEGIN
            IF NOT EXISTS (
                SELECT 1 FROM pg_constraint
                WHERE conname = 'signing_keys_wrapped_length' AND conrelid = 'authlog.signing_keys'::regclass)
            THEN
                ALTER TABLE authlog.signing_keys DROP CONSTRAINT IF EXISTS signing_keys_wrapped_check;
                ALTER TABLE authlog.signing_keys
                    ADD CONSTRAINT signing_keys_wrapped_length CHECK (length(wrapped) IN (60, 149));
            END IF;
        END $$
        """,
    ]

    /// Whether the store's meta row is there (its table may not be).
    private static func holdsStore(on connection: PostgresConnection) throws -> Bool {
        let table = try connection.run("SELECT to_regclass('authlog.key_meta') IS NOT NULL").first?.column(Bool.self)
        guard table == true else { return false }
        return try (connection.run("SELECT count(*) FROM authlog.key_meta").first?.column(Int64.self) ?? 0) > 0
    }

    /// Creates the tables and the meta row if missing (under the log's schema lock, so that
    /// nodes starting together create them once), checks the format and the key, and returns
    /// the log's signing key (its private key). A new meta row stores the key derived from
    /// `kek`, the one a file store of format 1 signs with. With `createIfMissing` false, a
    /// database without the meta row is refused and left as it was: a reader must not make the
    /// store, and so fix the cluster's key-encryption key, with whatever key it was given.
    static func prepareKeyTables(
        on connection: PostgresConnection, kek: KeyEncryptionKey, location: String, createIfMissing: Bool = true
    ) throws -> [UInt8] {
        _ = try connection.run("BEGIN")
        do {
            _ = try connection.run("SELECT pg_advisory_xact_lock(\(PostgresSchema.creationLock))")
            if !createIfMissing, try !holdsStore(on: connection) {
                throw DataProtectionError.keyStore(Self.noStore(location))
            }
            for statement in creation { _ = try connection.run(PostgresQuery(unsafeSQL: statement)) }
            var row = try connection.run("SELECT format, kek_check, log_signing_key FROM authlog.key_meta").first
            if row == nil {
                var seed = kek.derivedLogSigningSeed
                defer { seed.withUnsafeMutableBytes { cleanse($0) } }
                let wrapped = ByteBuffer(
                    bytes: try AESGCM.seal(seed, key: kek.bytes, associatedData: KeyStore.logSigningContext))
                let check = ByteBuffer(bytes: kek.checkValue)
                _ = try connection.run(
                    """
                    INSERT INTO authlog.key_meta (format, kek_check, log_signing_key)
                    VALUES (\(formatMarker), \(check), \(wrapped))
                    """)
                row = try connection.run("SELECT format, kek_check, log_signing_key FROM authlog.key_meta").first
            }
            _ = try connection.run("COMMIT")
            guard let row else { throw DataProtectionError.keyStore("\(location) has no key meta row") }
            let (format, check, wrapped) = try row.columns((String, ByteBuffer, ByteBuffer).self)
            guard format == formatMarker else {
                throw DataProtectionError.keyStore(
                    "\(location) holds key store format \(format); this build reads \(formatMarker)")
            }
            guard Array(buffer: check) == kek.checkValue else {
                throw DataProtectionError.wrongKey(
                    "the key-encryption key is not the one that wrapped the keys in \(location)")
            }
            return try Array(buffer: wrapped).withUnsafeBytes {
                try AESGCM.open($0, key: kek.bytes, associatedData: KeyStore.logSigningContext)
            }
        } catch {
            _ = try? connection.run("ROLLBACK")
            throw error
        }
    }
}
