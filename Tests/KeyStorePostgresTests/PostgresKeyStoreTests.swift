import AccessTokens
import DataProtection
import EventLog
import EventLogPostgres
import Foundation
import KeyStorePostgres
import PostgresTestSupport
import Signatures
import TestSupport
import Testing

/// The key store in the shared database: keys created, read by another node, destroyed with
/// nothing left in the table's files; a wrong key refused; erased users never served again;
/// the key-encryption key rotated in one transaction; slots moving between the file store and
/// this one. Each test has a database of its own.
@Suite(.ownThreads, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct PostgresKeyStoreTests {
    let kek = try! KeyEncryptionKey.generate()

    /// Told not to create the log, the store refuses a database without one (`noLog`, as the
    /// log itself) and makes neither the log's tables nor its own, nor a log signing key.
    @Test func aDatabaseWithoutTheLogIsLeftAsItWasWhenToldNotToCreateIt() throws {
        let database = try TestDatabase()
        #expect {
            _ = try PostgresKeyStore(url: database.url, kek: kek, createLogIfMissing: false)
        } throws: { error in
            if case EventLogError.noLog = error { return true }
            return false
        }
        let tables = try TestPostgres.count(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'authlog'", database: database.name)
        #expect(tables == 0)
        try PostgresEventLog(url: database.url).close()
        let store = try PostgresKeyStore(url: database.url, kek: kek, createLogIfMissing: false)
        defer { store.close() }
        #expect(store.logSigningKey != nil)
    }

    @Test func keysCreatedOnOneNodeAreReadOnAnotherAndDestroyedForBoth() throws {
        let database = try TestDatabase()
        let one = try PostgresKeyStore(url: database.url, kek: kek)
        let two = try PostgresKeyStore(url: database.url, kek: kek)
        let (alice, bob) = (UUID(), UUID())
        let aliceKey = try one.createDataKey(for: alice)
        let keys = try one.createDataKeys(for: [bob, UUID()])
        #expect(aliceKey.count == 32)
        #expect(try two.dataKey(for: alice) == aliceKey)
        #expect(try two.dataKey(for: bob) == keys[0])
        #expect(try two.users().count == 3)
        #expect(two.storedKeyCount == 3)
        #expect(throws: DataProtectionError.self) { try two.createDataKey(for: alice) }
        #expect(try one.dataKey(for: alice) == aliceKey)  // the refused create changed nothing

        #expect(try one.destroyDataKey(for: alice))
        #expect(try one.dataKey(for: alice) == nil)
        #expect(try PostgresKeyStore(url: database.url, kek: kek).dataKey(for: alice) == nil)
        #expect(
            try database.run("SELECT count(*) FROM authlog.data_keys WHERE user_id = '\(alice)'").first?.decode(
                Int64.self) == 0)
        #expect(try !one.destroyDataKey(for: alice))
        #expect(try one.users().count == 2)
        var seen: [UUID: [UInt8]] = [:]
        try two.forEachDataKey(where: { $0 != bob }, { user, key in seen[user] = Array(key) })
        #expect(seen.count == 1 && seen[bob] == nil)
        #expect(one.logSigningKey?.publicKey == two.logSigningKey?.publicKey)
        #expect(one.logSigningKey != nil)
    }

    @Test func usersAreListedInIdByteOrderAcrossPages() throws {
        let database = try TestDatabase()
        let store = try PostgresKeyStore(url: database.url, kek: kek)
        let users = (0..<25_000).map { _ in UUID() }
        _ = try store.createDataKeys(for: users)
        let bytes = { (id: UUID) in withUnsafeBytes(of: id.uuid) { Array($0) } }
        #expect(try store.users() == users.sorted { bytes($0).lexicographicallyPrecedes(bytes($1)) })
        var count = 0
        try store.forEachDataKey(
            where: { _ in true },
            { _, key in
                count += 1
                #expect(key.count == 32)
            })
        #expect(count == 25_000)
    }

    @Test func aNodeWithAnotherKeyEncryptionKeyIsRefused() throws {
        let database = try TestDatabase()
        let store = try PostgresKeyStore(url: database.url, kek: kek)
        _ = try store.createDataKey(for: UUID())
        do {
            _ = try PostgresKeyStore(url: database.url, kek: try KeyEncryptionKey.generate())
            Issue.record("a store opened with another key-encryption key")
        } catch DataProtectionError.wrongKey(let detail) {
            #expect(detail.contains("not the one that wrapped the keys"))
            #expect(!detail.contains("password"))
        }
    }

    /// The erased key's wrapped bytes are in the table's file before, and in none of its
    /// files after: the rewrite leaves no dead tuple (a plain VACUUM would, in the freed
    /// space of the page, when the row was the last one written there).
    @Test func aDestroyedKeyLeavesNoBytesInTheTablesFiles() throws {
        let database = try TestDatabase()
        let store = try PostgresKeyStore(url: database.url, kek: kek)
        let users = (0..<200).map { _ in UUID() }
        _ = try store.createDataKeys(for: users)
        let erased = [users[100], users[199]]  // one in the middle of the page, the last written
        let slots = try erased.map { try #require(try store.storedSlot(for: $0)) }
        let before = try #require(
            try database.relationFiles("authlog.data_keys"), "the test server's data directory is not readable here")
        for slot in slots { #expect(anyFile(before, contains: Array(slot[16..<76]))) }
        for user in erased { #expect(try store.destroyDataKey(for: user)) }
        let after = try #require(try database.relationFiles("authlog.data_keys"))
        for slot in slots {
            #expect(!anyFile(after, contains: Array(slot[16..<76])))
            #expect(!anyFile(before, contains: Array(slot[16..<76])))  // the old files: removed or emptied
        }
        #expect(try store.dataKey(for: users[0]) != nil)
    }

    @Test func aForgottenUserIsNeverServedAgainByThatProcess() throws {
        let database = try TestDatabase()
        let writer = try PostgresKeyStore(url: database.url, kek: kek)
        let reader = try PostgresKeyStore(url: database.url, kek: kek)
        let user = UUID()
        let key = try writer.createDataKey(for: user)
        #expect(try reader.dataKey(for: user) == key)  // cached now
        reader.forget(user)
        // The row is still there (the erase destroys it after its event), yet not handed out.
        #expect(try writer.storedSlot(for: user) != nil)
        #expect(try reader.dataKey(for: user) == nil)
        var listed: [UUID] = []
        try reader.forEachDataKey(where: { _ in true }, { id, _ in listed.append(id) })
        #expect(listed.isEmpty)
        #expect(throws: DataProtectionError.self) { try reader.createDataKey(for: user) }
        #expect(try writer.dataKey(for: user) == key)  // the other process was not told
    }

    @Test func rotationRewrapsEverythingUnderTheNewKeyInOneStep() throws {
        let database = try TestDatabase()
        let store = try PostgresKeyStore(url: database.url, kek: kek)
        let users = (0..<30).map { _ in UUID() }
        let keys = try store.createDataKeys(for: users)
        let firstSigningKeys = try store.accessTokenSigningKeys()
        try store.addAccessTokenSigningKey()
        let signingKeys = try store.accessTokenSigningKeys().map { ($0.kid, $0.key.publicKey) }
        #expect(signingKeys.count == 2 && firstSigningKeys.count == 1)
        let logKey = try #require(store.logSigningKey?.publicKey)
        let stale = try PostgresKeyStore(url: database.url, kek: kek)
        #expect(try stale.dataKey(for: users[0]) == keys[0])  // cached before the rotation

        let new = try KeyEncryptionKey.generate()
        let rotation = try PostgresKeyStore.rotateKeyEncryptionKey(url: database.url, from: kek, to: new)
        #expect(rotation.dataKeys == 30 && rotation.signingKeys == 2 && !rotation.alreadyDone)

        #expect(throws: DataProtectionError.self) { try PostgresKeyStore(url: database.url, kek: kek) }
        let rotated = try PostgresKeyStore(url: database.url, kek: new)
        for (user, key) in zip(users, keys) { #expect(try rotated.dataKey(for: user) == key) }
        #expect(rotated.logSigningKey?.publicKey == logKey)
        #expect(try rotated.accessTokenSigningKeys().map { $0.kid } == signingKeys.map { $0.0 })
        #expect(try rotated.accessTokenSigningKeys().map { $0.key.publicKey } == signingKeys.map { $0.1 })
        let again = try PostgresKeyStore.rotateKeyEncryptionKey(url: database.url, from: kek, to: new)
        #expect(again.alreadyDone && again.dataKeys == 0)

        // A node still on the old key serves what it cached, reads and writes nothing more.
        #expect(try stale.dataKey(for: users[0]) == keys[0])
        #expect(throws: DataProtectionError.self) { try stale.dataKey(for: users[1]) }
        #expect(throws: DataProtectionError.self) { try stale.createDataKey(for: UUID()) }
        #expect(throws: DataProtectionError.self) { try stale.addAccessTokenSigningKey() }
        #expect(rotated.storedKeyCount == 30)
    }

    @Test func aRotationThatFailsPartWayLeavesTheOldStateWhole() throws {
        let database = try TestDatabase()
        let store = try PostgresKeyStore(url: database.url, kek: kek)
        let users = (0..<10).map { _ in UUID() }
        let keys = try store.createDataKeys(for: users)
        // One damaged row, met after others were re-wrapped in the transaction.
        let damaged = try store.users().last!
        try database.run(
            "UPDATE authlog.data_keys SET wrapped = set_byte(wrapped, 20, get_byte(wrapped, 20) # 1) "
                + "WHERE user_id = '\(damaged)'")
        #expect(throws: DataProtectionError.tampered) {
            try PostgresKeyStore.rotateKeyEncryptionKey(
                url: database.url, from: kek, to: try KeyEncryptionKey.generate())
        }
        let reopened = try PostgresKeyStore(url: database.url, kek: kek)
        for (user, key) in zip(users, keys) where user != damaged { #expect(try reopened.dataKey(for: user) == key) }
    }

    @Test func slotsMoveBetweenTheFileStoreAndThisOne() throws {
        let database = try TestDatabase()
        let directory = NSTemporaryDirectory() + "authlog-keys-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try KeyStore(file: directory + "/keys", kek: kek, keySource: "test")
        let users = (0..<5).map { _ in UUID() }
        let keys = try file.createDataKeys(for: users)
        let slots = try users.map { try #require(try file.storedSlot(for: $0)) }

        let store = try PostgresKeyStore(url: database.url, kek: kek)
        // A format 1 file store derives the log's key from the KEK; so does a new store here.
        #expect(store.logSigningKey?.publicKey == file.logSigningKey?.publicKey)
        try store.importSlots(slots)
        for (user, key) in zip(users, keys) { #expect(try store.dataKey(for: user) == key) }
        #expect(throws: DataProtectionError.self) { try store.importSlots([slots[0]]) }
        let foreignDatabase = try TestDatabase()
        let foreign = try PostgresKeyStore(url: foreignDatabase.url, kek: try KeyEncryptionKey.generate())
        #expect(throws: DataProtectionError.self) { try foreign.importSlots(slots) }

        // Back into a new file store: the log's key is the one derived from the KEK, which an
        // export names by carrying no slot for it (as a format 1 file store's does).
        #expect(store.storedLogSigningSlot == nil)
        let back = try KeyStore(file: directory + "/back", kek: kek, keySource: "test")
        try back.importSlots(try users.map { try #require(try store.storedSlot(for: $0)) })
        for (user, key) in zip(users, keys) { #expect(try back.dataKey(for: user) == key) }
        #expect(back.logSigningKey?.publicKey == store.logSigningKey?.publicKey)
    }

    @Test func aLogSigningKeyIsAdoptedFromAnExportOnlyIntoAnEmptyStore() throws {
        let (exportingDatabase, sourceDatabase) = (try TestDatabase(), try TestDatabase())
        let exporting = try PostgresKeyStore(url: exportingDatabase.url, kek: kek)
        let other = try KeyEncryptionKey.generate()
        let source = try PostgresKeyStore(url: sourceDatabase.url, kek: other)
        let database = try TestDatabase()
        let store = try PostgresKeyStore(url: database.url, kek: other)
        #expect(store.logSigningKey?.publicKey != exporting.logSigningKey?.publicKey)
        #expect(throws: DataProtectionError.self) {
            try store.adoptLogSigningSlot(try #require(exporting.wrappedLogSigningSlot))  // another KEK's wrap
        }
        try store.adoptLogSigningSlot(try #require(source.wrappedLogSigningSlot))
        #expect(
            try PostgresKeyStore(url: database.url, kek: other).logSigningKey?.publicKey
                == source.logSigningKey?.publicKey)
        _ = try store.createDataKey(for: UUID())
        #expect(throws: DataProtectionError.self) {
            try store.adoptLogSigningSlot(try #require(source.wrappedLogSigningSlot))
        }
    }

    /// Two nodes: one adds an access-token signing key; the other, running, verifies a token
    /// signed with it without a restart.
    @Test func aSigningKeyAddedByOneNodeVerifiesOnAnotherWithoutARestart() throws {
        let database = try TestDatabase()
        let one = try PostgresKeyStore(url: database.url, kek: kek)
        let two = try PostgresKeyStore(url: database.url, kek: kek)
        let first = try one.accessTokenSigningKeys()
        #expect(first.count == 1)
        #expect(try two.accessTokenSigningKeys().map(\.kid) == first.map(\.kid))  // no second first key
        let running = AccessTokenIssuer(
            issuer: "authlog", audience: "authlog",
            keys: try SigningKeys(keys: two.accessTokenSigningKeys(), reload: { try two.accessTokenSigningKeys() }))

        let kid = try one.addAccessTokenSigningKey()
        let rotatedNode = AccessTokenIssuer(
            issuer: "authlog", audience: "authlog", keys: try SigningKeys(keys: one.accessTokenSigningKeys()))
        let claims = AccessClaims(
            issuer: "authlog", audience: "authlog", subject: UUID(), role: "USER", sessionID: UUID(),
            issuedAt: 1_000, lifetime: 900, tokenID: "t1")
        let token = try rotatedNode.sign(claims)
        let header = String(decoding: try #require(Base64URL.decode(token.split(separator: ".")[0])), as: UTF8.self)
        #expect(header.contains("\"kid\":\"\(kid)\""))
        #expect(try running.verify(token, now: 1_001) == claims)
    }
}
