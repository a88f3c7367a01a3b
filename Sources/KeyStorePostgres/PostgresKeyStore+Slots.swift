import DataProtection
import EventLog
import EventLogPostgres
import Foundation
import PostgresNIO

/// Exports and imports in the file store's 80-byte slots (user id, nonce, wrapped key, tag,
/// 4 reserved bytes), so that keys move between the file store and this one unchanged.
extension PostgresKeyStore {
    /// The user's key as a slot, wrapped as stored (for exports), or `nil` without one.
    public func storedSlot(for user: UUID) throws -> [UInt8]? {
        let wrapped = try run { connection in
            try connection.run("SELECT wrapped FROM authlog.data_keys WHERE user_id = \(user)").first.map {
                row throws(EventLogError) in Array(buffer: try row.column(ByteBuffer.self))
            }
        }
        return wrapped.map { uuidBytes(user) + $0 + [0, 0, 0, 0] }
    }

    /// Stores slots exported from a store wrapped with the same key-encryption key (an
    /// import); every slot must unwrap. Refused, with nothing written, when a slot does not
    /// unwrap, takes the log signing key's reserved id, when two slots name one user or when a
    /// user has a key here already.
    public func importSlots(_ slots: [[UInt8]]) throws {
        try inTransaction { connection in try importSlots(slots, on: connection) }
    }

    /// ``importSlots(_:)`` as part of `restore`: committed with the restore's events, or not
    /// at all. The restore must be into this store's database.
    public func importSlots(_ slots: [[UInt8]], in restore: PostgresRestore) throws {
        try restore.part { connection in
            try checkDatabase(of: restore)
            try importSlots(slots, on: connection)
        }
    }

    private func importSlots(_ slots: [[UInt8]], on connection: PostgresConnection) throws {
        var users: [UUID] = []
        var wrapped: [ByteBuffer] = []
        for slot in slots {
            guard slot.count == KeyStore.slotSize else {
                throw DataProtectionError.keyStore("a key slot is \(KeyStore.slotSize) bytes")
            }
            let user = UUID(uuid: slot.withUnsafeBytes { $0.loadUnaligned(as: uuid_t.self) })
            guard user != KeyStore.logSigningSlot else {
                throw DataProtectionError.keyStore("a data key cannot take the log signing key's reserved id")
            }
            _ = try Array(slot[16..<76]).withUnsafeBytes {
                try AESGCM.open($0, key: kek.bytes, associatedData: KeyStore.wrapContext(for: user))
            }
            users.append(user)
            wrapped.append(ByteBuffer(bytes: slot[16..<76]))
        }
        guard !users.isEmpty else { return }
        guard Set(users).count == users.count else {
            throw DataProtectionError.keyStore("two slots name one user; a user has one data key at most")
        }
        try insert(users: users, wrapped: wrapped, on: connection)
    }

    /// The log's signing key as an export carries it: `nil` while it is the key derived from
    /// this KEK (as a format 1 file store holds none, so an export of either store has the
    /// same bytes), else ``wrappedLogSigningSlot`` (after a rotation of the KEK, or an import
    /// that adopted another log's key).
    public var storedLogSigningSlot: [UInt8]? {
        if let seed = logSigningKey?.privateKey, seed == kek.derivedLogSigningSeed { return nil }
        return wrappedLogSigningSlot
    }

    /// The log's signing key as a slot (the reserved id, then the key wrapped as stored),
    /// always, whichever key it is.
    public var wrappedLogSigningSlot: [UInt8]? {
        let stored = try? run { connection in
            try connection.run("SELECT log_signing_key FROM authlog.key_meta").first.map {
                row throws(EventLogError) in Array(buffer: try row.column(ByteBuffer.self))
            }
        }
        guard let wrapped = stored ?? nil else { return nil }
        return uuidBytes(KeyStore.logSigningSlot) + wrapped + [0, 0, 0, 0]
    }

    /// Stores the log's signing key from `slot` (as a store's ``storedLogSigningSlot`` gave
    /// it, wrapped with this store's key-encryption key) in place of the derived one. Only
    /// into a store without data keys (an import's new store); the slot must unwrap. Takes
    /// effect for stores opened afterwards (this one included: ``logSigningKey`` is read at
    /// open, so reopen it).
    public func adoptLogSigningSlot(_ slot: [UInt8]) throws {
        let wrapped = try logSigningWrap(of: slot)
        try inTransaction { connection in try adopt(wrapped, on: connection) }
    }

    /// ``adoptLogSigningSlot(_:)`` as part of `restore` (see ``importSlots(_:in:)``).
    public func adoptLogSigningSlot(_ slot: [UInt8], in restore: PostgresRestore) throws {
        try restore.part { connection in
            try checkDatabase(of: restore)
            try adopt(try logSigningWrap(of: slot), on: connection)
        }
    }

    /// The wrapped key of a log signing slot, once checked to unwrap to a 32-byte seed.
    private func logSigningWrap(of slot: [UInt8]) throws -> ByteBuffer {
        guard slot.count == KeyStore.slotSize, Array(slot[0..<16]) == uuidBytes(KeyStore.logSigningSlot) else {
            throw DataProtectionError.keyStore("the log signing key's slot is malformed")
        }
        var seed = try Array(slot[16..<76]).withUnsafeBytes {
            try AESGCM.open($0, key: kek.bytes, associatedData: KeyStore.logSigningContext)
        }
        defer { seed.withUnsafeMutableBytes { cleanse($0) } }
        guard seed.count == 32 else { throw DataProtectionError.keyStore("the log signing key is not 32 bytes") }
        return ByteBuffer(bytes: slot[16..<76])
    }

    private func adopt(_ wrapped: ByteBuffer, on connection: PostgresConnection) throws {
        _ = try connection.run("SELECT kek_check FROM authlog.key_meta FOR UPDATE")
        let held = try connection.run("SELECT count(*) FROM authlog.data_keys").first?.column(Int64.self) ?? 0
        guard held == 0 else {
            throw DataProtectionError.keyStore("\(location) holds keys already; the log's key goes into a new store")
        }
        _ = try connection.run("UPDATE authlog.key_meta SET log_signing_key = \(wrapped)")
    }

    /// Refuses a restore into another database than this store's.
    private func checkDatabase(of restore: PostgresRestore) throws {
        guard restore.location == location else {
            throw DataProtectionError.keyStore(
                "the restore is into \(restore.location), not into this store's database \(location)")
        }
    }
}
