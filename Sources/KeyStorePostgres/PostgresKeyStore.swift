import COpenSSL
import DataProtection
import EventLog
import EventLogPostgres
import Foundation
import PostgresNIO
import Signatures
import Synchronization

/// Every user's data key, the log's signing key and the access-token signing keys, wrapped by
/// the key-encryption key, in the shared PostgreSQL database (schema `authlog`, beside the
/// log): the key store of a cluster of authd nodes. See `PostgresKeyStore+Schema.swift` for
/// the tables.
///
/// The wrap is the file store's (``KeyStore``): AES-256-GCM under the key-encryption key with
/// `authlog data key ` and the user id as associated data, so a slot exported from either
/// store imports into the other.
///
/// Rules:
/// - One user, at most one key (the table's primary key). Creating or importing a key for a
///   user who has one is refused.
/// - A node started with another key-encryption key than the one that wrapped the stored keys
///   is refused on open (``DataProtectionError/wrongKey(_:)``), as the file store refuses it.
///   Every write of a wrapped key first takes a shared lock on the meta row and checks the
///   key's check value there; a rotation takes it exclusively. So once a rotation committed,
///   a node still holding the old key writes nothing, and its reads of keys it had not cached
///   fail with ``DataProtectionError/wrongKey(_:)`` until it is restarted with the new key.
/// - Keys read are cached in memory. ``forget(_:)`` and ``destroyDataKey(for:)`` mean "this
///   user was erased": the cached key is overwritten and dropped, and the user is remembered
///   (a tombstone, 16 bytes per erased user for the life of the process) so that this store
///   never hands out, caches or creates a key for them again, even if a look-up that began
///   before the erase returns afterwards. An erase appends its event before it destroys the
///   key: without the tombstone a node told of the event could fetch the key in between and
///   keep it cached after the row is gone.
/// - ``destroyDataKey(for:)`` deletes the row, then rewrites the table (`VACUUM FULL`) so
///   that the wrapped bytes are not left in a dead tuple of the table's pages; see
///   docs/threat-model.md for the copies outside the table (write-ahead log, backups,
///   replicas) and why a rotation of the key-encryption key is the answer for those.
/// - Statements block the calling thread (never call these on an event loop thread).
public final class PostgresKeyStore: DataKeyStore {
    let server: PostgresServer
    let pool: ConnectionPool
    let kek: KeyEncryptionKey
    /// The server and database, without a password: for messages.
    public let location: String
    private let signingKey: Ed25519Key
    private let signingSeed: Mutex<[UInt8]>

    struct Cache {
        var keys: [UUID: [UInt8]] = [:]
        /// Users erased, by this process or as it was told (see the type's rules).
        var erased: Set<UUID> = []
    }
    let cache = Mutex(Cache())

    /// Opens the store in the database `url` names (as ``PostgresEventLog/init(url:options:)``
    /// reads it), creating the store's tables and the log's if they are missing. With
    /// `createLogIfMissing` false a database without the log is refused with
    /// ``EventLogError/noLog(path:)``; with `createStoreIfMissing` false one without the store
    /// (its tables, its meta row and the log's signing key) is refused with
    /// ``DataProtectionError/keyStore(_:)``. Either way the database is left as it was.
    public convenience init(
        url: String, kek: KeyEncryptionKey, createLogIfMissing: Bool = true, createStoreIfMissing: Bool = true
    ) throws {
        let (configuration, location) = try Self.translating { () throws(EventLogError) in
            try PostgresEventLog.configuration(url: url)
        }
        try self.init(
            configuration: configuration, location: location, kek: kek, createLogIfMissing: createLogIfMissing,
            createStoreIfMissing: createStoreIfMissing)
    }

    /// Opens the store in the database an open log uses.
    public convenience init(log: PostgresEventLog, kek: KeyEncryptionKey) throws {
        try self.init(configuration: log.server.configuration, location: log.location, kek: kek)
    }

    /// Opens the store in the database `configuration` names (see ``init(url:kek:createLogIfMissing:createStoreIfMissing:)``).
    public init(
        configuration: PostgresConnection.Configuration, location: String, kek: KeyEncryptionKey,
        connections: Int = 4, createLogIfMissing: Bool = true, createStoreIfMissing: Bool = true
    ) throws {
        self.kek = kek
        self.location = location
        server = PostgresServer(configuration: configuration, location: location)
        pool = ConnectionPool(server: server, limit: max(1, connections))
        do {
            var seed = try Self.run(on: pool) { connection in
                try PostgresSchema.prepare(on: connection, location: location, createIfMissing: createLogIfMissing)
                return try Self.prepareKeyTables(
                    on: connection, kek: kek, location: location, createIfMissing: createStoreIfMissing)
            }
            defer { seed.withUnsafeMutableBytes { cleanse($0) } }
            signingKey = try Ed25519Key(privateKey: seed)
            signingSeed = Mutex(seed)
        } catch {
            pool.close()
            throw Self.translate(error)
        }
    }

    deinit {
        close()
        signingSeed.withLock { seed in seed.withUnsafeMutableBytes { cleanse($0) } }
        cache.withLock { cache in
            for user in Array(cache.keys.keys) { cache.keys[user]?.withUnsafeMutableBytes { cleanse($0) } }
        }
    }

    /// Closes the store's connections; later calls fail.
    public func close() {
        pool.close()
    }

    // MARK: DataKeyStore

    /// The user's data key, or `nil` if there is none (never created, destroyed, or the user
    /// was erased as far as this process knows: see the type's rules).
    public func dataKey(for user: UUID) throws -> [UInt8]? {
        let known = cache.withLock { cache -> (erased: Bool, key: [UInt8]?) in
            (cache.erased.contains(user), cache.keys[user])
        }
        if known.erased { return nil }
        if let key = known.key { return key }
        guard DataKeyLookup.mayWait else { throw DataProtectionError.keyNotAtHand }
        let wrapped = try run { connection in
            try connection.run("SELECT wrapped FROM authlog.data_keys WHERE user_id = \(user)").first.map {
                row throws(EventLogError) in Array(buffer: try row.column(ByteBuffer.self))
            }
        }
        guard let wrapped else { return nil }
        let key = try unwrap(wrapped, context: KeyStore.wrapContext(for: user))
        return cache.withLock { cache in
            // Erased while the row was read: the key is not handed out.
            if cache.erased.contains(user) { return nil }
            cache.keys[user] = key
            return key
        }
    }

    /// Creates, stores durably (a committed row) and returns a new key for `user`.
    public func createDataKey(for user: UUID) throws -> [UInt8] {
        try createDataKeys(for: [user])[0]
    }

    /// Creates keys for many users in one transaction. Refused, with nothing written, when a
    /// user has a key, comes twice, or was erased as far as this process knows.
    public func createDataKeys(for users: [UUID]) throws -> [[UInt8]] {
        guard !users.isEmpty else { return [] }
        guard Set(users).count == users.count else {
            throw DataProtectionError.keyStore("a user has one data key at most; a user came twice")
        }
        if let erased = cache.withLock({ cache in users.first { cache.erased.contains($0) } }) {
            throw DataProtectionError.keyStore(
                "user \(erased.uuidString.lowercased()) was erased; no data key is created for them again")
        }
        var keys: [[UInt8]] = []
        var wrapped: [ByteBuffer] = []
        for user in users {
            var key = [UInt8](repeating: 0, count: 32)
            guard RAND_bytes(&key, 32) == 1 else { throw DataProtectionError.crypto("RAND_bytes failed") }
            wrapped.append(
                ByteBuffer(bytes: try AESGCM.seal(key, key: kek.bytes, associatedData: KeyStore.wrapContext(for: user)))
            )
            keys.append(key)
        }
        try insert(users: users, wrapped: wrapped)
        cache.withLock { cache in
            for (offset, user) in users.enumerated() { cache.keys[user] = keys[offset] }
        }
        return keys
    }

    /// Inserts wrapped keys in one transaction, under the meta row's shared lock (see the
    /// type's rules); a user who has a row already refuses the whole insert.
    func insert(users: [UUID], wrapped: [ByteBuffer]) throws {
        try inTransaction { connection in try insert(users: users, wrapped: wrapped, on: connection) }
    }

    /// ``insert(users:wrapped:)`` in the transaction open on `connection`.
    func insert(users: [UUID], wrapped: [ByteBuffer], on connection: PostgresConnection) throws {
        try checkKeyUnderSharedLock(on: connection)
        let chunk = 10_000
        for start in stride(from: 0, to: users.count, by: chunk) {
            let ids = Array(users[start..<min(start + chunk, users.count)])
            let values = Array(wrapped[start..<min(start + chunk, users.count)])
            let inserted = try connection.run(
                """
                INSERT INTO authlog.data_keys (user_id, wrapped)
                SELECT * FROM unnest(\(ids)::uuid[], \(values)::bytea[])
                ON CONFLICT (user_id) DO NOTHING RETURNING user_id
                """)
            if inserted.count != ids.count {
                let stored = Set(try inserted.map { row throws(EventLogError) in try row.column(UUID.self) })
                let taken = ids.first { !stored.contains($0) }!
                throw DataProtectionError.keyStore(
                    "\(location) already holds a data key for user \(taken.uuidString.lowercased()); "
                        + "a user has one key at most")
            }
        }
    }

    /// Destroys the user's key: remembers the user as erased, drops the cached key, deletes the
    /// row, then rewrites the table (``compactDataKeys(after:)``) so that no dead tuple keeps
    /// the wrapped bytes in the table's files. Returns whether there was a row. The rewrite
    /// runs even when there was none, so that calling this again after a failed rewrite
    /// completes it.
    @discardableResult
    public func destroyDataKey(for user: UUID) throws -> Bool {
        forget(user)
        let deletedBy = try run { connection in
            try connection.run(
                "DELETE FROM authlog.data_keys WHERE user_id = \(user) RETURNING pg_current_xact_id()::text"
            ).first?.column(String.self)
        }
        try compactDataKeys(afterTransaction: deletedBy)
        return deletedBy != nil
    }

    /// How long a rewrite waits for transactions older than the delete (see
    /// ``compactDataKeys(after:)``).
    static let olderTransactionsWait: Duration = .seconds(10)

    /// Rewrites the data-key table (`VACUUM FULL`): only live rows are copied into new files,
    /// and the old files are truncated and removed. A plain `VACUUM` is not enough: it frees a
    /// dead tuple's space but leaves its bytes in the page until something is written there.
    ///
    /// The rewrite also copies a deleted row that a transaction still open might see: one in
    /// this database whose snapshot is older than the delete (a long report, an autovacuum
    /// `ANALYZE`, a `pg_dump`), and, since the rewrite's own snapshot starts at the oldest
    /// transaction running in the whole cluster, any transaction in any database that was
    /// running when the delete committed. So it first waits, polling `pg_stat_activity` and
    /// the current snapshot, until neither is left (`deleter` is the deleting transaction's
    /// id), at most ``olderTransactionsWait``; past that it rewrites all the same, and the
    /// next erasure's rewrite (or a rotation of the key-encryption key) deals with the copy
    /// left.
    public func compactDataKeys(afterTransaction deleter: String? = nil) throws {
        let clock = ContinuousClock()
        let deadline = clock.now + Self.olderTransactionsWait
        try run { connection in
            while let deleter, clock.now < deadline {
                let older =
                    try connection.run(
                        """
                        SELECT count(*) FROM pg_stat_activity
                        WHERE datname = current_database() AND pid <> pg_backend_pid()
                          AND (age(backend_xmin) >= age(CAST(CAST(\(deleter) AS xid8) AS xid))
                               OR age(backend_xid) >= age(CAST(CAST(\(deleter) AS xid8) AS xid)))
                        UNION ALL
                        SELECT 1 WHERE pg_snapshot_xmin(pg_current_snapshot()) <= CAST(\(deleter) AS xid8)
                        """
                    ).map { row throws(EventLogError) in try row.column(Int64.self) }.reduce(0, +)
                if older == 0 { break }
                Thread.sleep(forTimeInterval: 0.02)
            }
            _ = try connection.run("VACUUM FULL authlog.data_keys")
        }
    }

    /// Overwrites and drops the cached key of `user` and remembers them as erased: this store
    /// never hands out a key for them again (see the type's rules).
    public func forget(_ user: UUID) {
        cache.withLock { cache in
            cache.erased.insert(user)
            cache.keys[user]?.withUnsafeMutableBytes { cleanse($0) }
            cache.keys[user] = nil
        }
    }

    /// Every user with a key, in id byte order.
    public func users() throws -> [UUID] {
        try run { connection in
            try connection.run("SELECT user_id FROM authlog.data_keys ORDER BY user_id").map {
                row throws(EventLogError) in try row.column(UUID.self)
            }
        }
    }

    /// Calls `body` with every stored key whose user `wanted` accepts (erased users left out),
    /// unwrapped, in user id order, read in pages; nothing is added to the cache.
    public func forEachDataKey(
        where wanted: (UUID) -> Bool, _ body: (UUID, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        var after = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        var first = true
        while true {
            let page = try run { connection in
                try connection.run(
                    """
                    SELECT user_id, wrapped FROM authlog.data_keys WHERE user_id > \(after) OR \(first)
                    ORDER BY user_id LIMIT 10000
                    """
                ).map { row throws(EventLogError) in
                    let (user, wrapped) = try row.columns((UUID, ByteBuffer).self)
                    return (user, Array(buffer: wrapped))
                }
            }
            first = false
            guard let last = page.last else { return }
            after = last.0
            let erased = cache.withLock { $0.erased }
            for (user, wrapped) in page where !erased.contains(user) && wanted(user) {
                var key = try unwrap(wrapped, context: KeyStore.wrapContext(for: user))
                defer { key.withUnsafeMutableBytes { cleanse($0) } }
                try key.withUnsafeBytes { try body(user, $0) }
            }
        }
    }

    /// The number of stored keys (0 if the database cannot be asked).
    public var storedKeyCount: Int {
        let count = try? run { connection in
            try connection.run("SELECT count(*) FROM authlog.data_keys").first?.column(Int64.self) ?? 0
        }
        return Int(count ?? 0)
    }

    /// The key that signs the log's checkpoints: the one the store holds, wrapped (on
    /// creation the one derived from the key-encryption key, as a file store of format 1 has
    /// it; or the one adopted from an export). A rotation never changes it.
    public var logSigningKey: Ed25519Key? { signingKey }

    /// The key that seals the secrets in a node's data directory (its webhook endpoints'),
    /// derived from the log's signing key as a file store derives it (``FileSealingKey``).
    public var fileSealingKey: FileSealingKey? { signingKey.privateKey.map(FileSealingKey.init(logSigningSeed:)) }

    /// The key-encryption key's check value, as the meta row holds it (for exports).
    public var keyCheck: [UInt8] { kek.checkValue }

    // MARK: Support

    /// Runs `body` on a connection of the pool; failures become ``DataProtectionError``s (a
    /// ``DataProtectionError`` thrown by `body` stays itself).
    func run<Result>(_ body: (PostgresConnection) throws -> Result) throws -> Result {
        try Self.run(on: pool, body)
    }

    /// ``run(_:)`` on `pool`.
    static func run<Result>(on pool: ConnectionPool, _ body: (PostgresConnection) throws -> Result) throws -> Result {
        var refusal: (any Error)?
        do {
            return try pool.withConnection { connection throws(EventLogError) in
                do {
                    return try body(connection)
                } catch let error as EventLogError {
                    throw error
                } catch {
                    refusal = error
                    throw EventLogError.storage(detail: "\(error)")
                }
            }
        } catch {
            throw Self.translate(refusal ?? error)
        }
    }

    /// Runs `body` in one transaction on a connection of the pool: committed if it returns,
    /// rolled back if it throws.
    func inTransaction<Result>(_ body: (PostgresConnection) throws -> Result) throws -> Result {
        try run { connection in
            _ = try connection.run("BEGIN")
            do {
                let result = try body(connection)
                _ = try connection.run("COMMIT")
                return result
            } catch {
                _ = try? connection.run("ROLLBACK")
                throw error
            }
        }
    }

    /// Opens a wrapped key (nonce, ciphertext, tag). One that does not open is
    /// ``DataProtectionError/wrongKey(_:)`` when the stored keys are under another
    /// key-encryption key now (a rotation by another process), else
    /// ``DataProtectionError/tampered``.
    func unwrap(_ wrapped: [UInt8], context: [UInt8]) throws -> [UInt8] {
        do {
            return try wrapped.withUnsafeBytes { try AESGCM.open($0, key: kek.bytes, associatedData: context) }
        } catch {
            try run { connection in try checkKey(on: connection, lock: "") }
            throw error
        }
    }

    /// Takes the meta row's shared lock and checks this store's key against it.
    func checkKeyUnderSharedLock(on connection: PostgresConnection) throws {
        try checkKey(on: connection, lock: "FOR SHARE")
    }

    private func checkKey(on connection: PostgresConnection, lock: String) throws {
        let stored = try connection.run(PostgresQuery(unsafeSQL: "SELECT kek_check FROM authlog.key_meta \(lock)"))
            .first.map { row throws(EventLogError) in Array(buffer: try row.column(ByteBuffer.self)) }
        guard stored == kek.checkValue else {
            throw DataProtectionError.wrongKey(
                "the key-encryption key is not the one that wraps the keys in \(location) now "
                    + "(rotated by another process?): restart with the new key")
        }
    }

    /// `body`'s typed failure, translated.
    static func translating<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws -> Result {
        do { return try body() } catch { throw translate(error) }
    }

    /// A failure as a ``DataProtectionError``: a full server stays
    /// ``DataProtectionError/storageFull(_:)`` (a 503 for the HTTP layer), an unreachable server
    /// stays the log's ``EventLogError`` (503 too), the store's own refusals keep their kind,
    /// anything else is ``DataProtectionError/keyStore(_:)``.
    static func translate(_ error: any Error) -> any Error {
        switch error {
        case let error as DataProtectionError: return error
        case EventLogError.storageFull(let detail): return DataProtectionError.storageFull(detail)
        // The server unreachable or restarting: the HTTP layer answers 503 and the client retries.
        case EventLogError.storage, EventLogError.closed, EventLogError.writeFailed: return error
        // Opened without creating the log (``init(url:kek:createLogIfMissing:createStoreIfMissing:)``):
        // the caller names it.
        case EventLogError.noLog: return error
        case let error as EventLogError: return DataProtectionError.keyStore("the PostgreSQL key store: \(error)")
        case let error as SignatureError: return DataProtectionError.keyStore("the log's signing key: \(error)")
        default: return DataProtectionError.keyStore("the PostgreSQL key store: \(error)")
        }
    }
}
