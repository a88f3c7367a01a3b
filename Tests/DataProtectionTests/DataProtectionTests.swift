import Foundation
import TestSupport
import Testing

@testable import DataProtection

@Suite(.ownThreads) struct AESGCMTests {
    let key = [UInt8](repeating: 7, count: 32)

    @Test func sealedBytesOpenOnlyWithTheSameKeyAndContext() throws {
        let sealed = try AESGCM.seal(Array("alice@example.com".utf8), key: key, associatedData: [1, 2, 3])
        #expect(sealed.count == 17 + AESGCM.overhead)
        #expect(!String(decoding: sealed, as: UTF8.self).contains("alice"))
        #expect(
            try sealed.withUnsafeBytes { try AESGCM.open($0, key: key, associatedData: [1, 2, 3]) }
                == Array("alice@example.com".utf8))
        #expect(throws: DataProtectionError.tampered) {
            try sealed.withUnsafeBytes { _ = try AESGCM.open($0, key: key, associatedData: [1, 2, 4]) }
        }
        #expect(throws: DataProtectionError.tampered) {
            try sealed.withUnsafeBytes {
                _ = try AESGCM.open($0, key: [UInt8](repeating: 8, count: 32), associatedData: [1, 2, 3])
            }
        }
        var flipped = sealed
        flipped[20] ^= 1
        #expect(throws: DataProtectionError.tampered) {
            try flipped.withUnsafeBytes { _ = try AESGCM.open($0, key: key, associatedData: [1, 2, 3]) }
        }
        #expect(
            try AESGCM.seal([], key: key, associatedData: []).withUnsafeBytes {
                try AESGCM.open($0, key: key, associatedData: [])
            } == [])
    }

    @Test func everySealUsesAFreshNonce() throws {
        let one = try AESGCM.seal([1, 2, 3], key: key, associatedData: [])
        let two = try AESGCM.seal([1, 2, 3], key: key, associatedData: [])
        #expect(one != two)
    }
}

@Suite(.ownThreads) struct KeyStoreTests {
    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "authlog-keys-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aKeyEncryptionKeyIsGeneratedOnFirstStartWithMode0600() throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try KeyStore(dataDirectory: path, environment: [:])
        let user = UUID()
        let key = try store.createDataKey(for: user)
        let attributes = try FileManager.default.attributesOfItem(atPath: path + "/kek")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect((try FileManager.default.attributesOfItem(atPath: path + "/keys")[.posixPermissions] as? Int) == 0o600)
        // Reopened (as another process would): the same key comes back.
        let again = try KeyStore(dataDirectory: path, environment: [:])
        #expect(try again.dataKey(for: user) == key)
        #expect(try again.dataKey(for: UUID()) == nil)
    }

    @Test func destroyingAKeyOverwritesItsSlotInPlace() throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try KeyStore(dataDirectory: path, environment: [:])
        let kept = UUID()
        let gone = UUID()
        let keptKey = try store.createDataKey(for: kept)
        let goneKey = try store.createDataKey(for: gone)
        let slot = try #require(try store.storedSlot(for: gone))
        let sizeBefore = try FileManager.default.attributesOfItem(atPath: path + "/keys")[.size] as? Int
        #expect(try store.destroyDataKey(for: gone))
        let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + "/keys")))
        #expect(file.count == sizeBefore)
        #expect(!file.contains(slice: Array(slot[16..<76])))
        #expect(!file.contains(slice: goneKey))
        #expect(try store.dataKey(for: gone) == nil)
        #expect(try KeyStore(dataDirectory: path, environment: [:]).dataKey(for: kept) == keptKey)
        #expect(try KeyStore(dataDirectory: path, environment: [:]).dataKey(for: gone) == nil)
    }

    @Test func aWrongKeyEncryptionKeyIsAClearErrorAtStart() throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try KeyStore(dataDirectory: path, environment: [:]).createDataKey(for: UUID())
        let other = try KeyEncryptionKey.generate().text
        #expect {
            _ = try KeyStore(dataDirectory: path, environment: ["AUTHLOG_KEK": other])
        } throws: { error in
            (error as? DataProtectionError).map { "\($0)".contains("is not the one that wrapped the data keys") }
                ?? false
        }
    }

    @Test func aMissingKeyEncryptionKeyIsAClearErrorAndIsNotReplaced() throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try KeyStore(dataDirectory: path, environment: [:]).createDataKey(for: UUID())
        try FileManager.default.removeItem(atPath: path + "/kek")
        #expect {
            _ = try KeyStore(dataDirectory: path, environment: [:])
        } throws: { error in
            (error as? DataProtectionError).map { "\($0)".contains("no key-encryption key") } ?? false
        }
        #expect(!FileManager.default.fileExists(atPath: path + "/kek"))
    }

    @Test func theKeyCanLiveOutsideTheDataDirectory() throws {
        let path = try directory()
        let elsewhere = try directory()
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: elsewhere)
        }
        let kek = try KeyEncryptionKey.generate()
        #expect(
            FileManager.default.createFile(
                atPath: elsewhere + "/kek", contents: Data(kek.text.utf8), attributes: [.posixPermissions: 0o400]))
        let user = UUID()
        let key = try KeyStore(dataDirectory: path, environment: ["AUTHLOG_KEK_FILE": elsewhere + "/kek"])
            .createDataKey(for: user)
        #expect(!FileManager.default.fileExists(atPath: path + "/kek"))
        #expect(try KeyStore(dataDirectory: path, environment: ["AUTHLOG_KEK": kek.text]).dataKey(for: user) == key)
        #expect(throws: DataProtectionError.self) {
            _ = try KeyStore(dataDirectory: path, environment: ["AUTHLOG_KEK": "short"])
        }
        #expect(throws: DataProtectionError.self) {
            _ = try KeyStore(dataDirectory: path, environment: ["AUTHLOG_KEK_FILE": elsewhere + "/missing"])
        }
    }
}

extension Array where Element == UInt8 {
    func contains(slice: [UInt8]) -> Bool {
        guard !slice.isEmpty, slice.count <= count else { return false }
        return (0...(count - slice.count)).contains { self[$0..<$0 + slice.count].elementsEqual(slice) }
    }
}
