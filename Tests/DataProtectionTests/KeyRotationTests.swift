import Foundation
import TestSupport
import Testing

@testable import DataProtection

/// The key store's side of `authctl rotate-kek` (the command is tested black-box in AuthdTests).
@Suite(.ownThreads) struct KeyRotationTests {
    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "authlog-rotation-" + UUID().uuidString
        #expect(mkdir(path, 0o700) == 0)
        return path
    }

    func users(_ store: KeyStore) throws -> [UUID: [UInt8]] {
        var keys: [UUID: [UInt8]] = [:]
        try store.forEachDataKey(where: { _ in true }, { user, key in keys[user] = Array(key) })
        return keys
    }

    @Test func everyKeyAndTheLogsKeySurviveARotationAndTheOldKeyOpensNothing() throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let kept = (0..<5).map { _ in UUID() }
        let erased = UUID()
        var keys: [UUID: [UInt8]] = [:]
        let oldText: String
        let logKey: [UInt8]
        do {
            let store = try KeyStore(dataDirectory: path, environment: [:])
            for (user, key) in zip(kept + [erased], try store.createDataKeys(for: kept + [erased])) { keys[user] = key }
            #expect(try store.destroyDataKey(for: erased))
            logKey = try #require(store.logSigningKey?.publicKey)
            oldText = try String(contentsOfFile: path + "/kek", encoding: .utf8)
            // Held open: the rotation is refused and changes nothing.
            #expect(throws: DataProtectionError.self) {
                try KeyStore.rotateKeyEncryptionKey(dataDirectory: path, environment: [:], newKey: nil)
            }
            #expect(try String(contentsOfFile: path + "/kek", encoding: .utf8) == oldText)
        }
        let rotation = try KeyStore.rotateKeyEncryptionKey(dataDirectory: path, environment: [:], newKey: nil)
        #expect(rotation.dataKeys == 5 && rotation.erasedSlotsDropped == 1 && !rotation.alreadyDone)
        #expect(try String(contentsOfFile: path + "/kek", encoding: .utf8) != oldText)

        let store = try KeyStore(dataDirectory: path, environment: [:])
        #expect(store.storedLogSigningSlot != nil)
        #expect(store.logSigningKey?.publicKey == logKey)
        #expect(
            try store.users().sorted { $0.uuidString < $1.uuidString } == kept.sorted { $0.uuidString < $1.uuidString })
        #expect(try users(store) == keys.filter { $0.key != erased })
        for user in kept { #expect(try store.dataKey(for: user) == keys[user]) }
        #expect(try store.dataKey(for: erased) == nil)
        // New keys go after the log's slot and read back.
        let late = UUID()
        let lateKey = try store.createDataKey(for: late)
        #expect(try KeyStore(dataDirectory: path, environment: [:]).dataKey(for: late) == lateKey)

        #expect(throws: DataProtectionError.self) {
            try KeyStore(dataDirectory: path, environment: ["AUTHLOG_KEK": oldText])
        }
    }

    @Test func aRewrappedSlotOpensOnlyUnderTheNewKeyAndForItsOwnUser() throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let old = try KeyEncryptionKey.generate()
        let new = try KeyEncryptionKey.generate()
        let user = UUID()
        let store = try KeyStore(file: path + "/keys", kek: old, keySource: "test")
        let key = try store.createDataKey(for: user)
        let slot = try #require(try store.storedSlot(for: user))
        let rewrapped = try KeyStore.rewrap(slot: slot, from: old, to: new)
        #expect(rewrapped.count == slot.count && Array(rewrapped[0..<16]) == Array(slot[0..<16]))
        #expect(Array(rewrapped[16..<28]) != Array(slot[16..<28]), "a fresh nonce")
        #expect(
            try rewrapped.withUnsafeBytes {
                try AESGCM.open(
                    UnsafeRawBufferPointer(rebasing: $0[16..<76]), key: new.bytes,
                    associatedData: store.wrapContext(user))
            } == key)
        #expect(throws: DataProtectionError.tampered) { try KeyStore.rewrap(slot: rewrapped, from: old, to: new) }
        var moved = slot
        moved.replaceSubrange(0..<16, with: withUnsafeBytes(of: UUID().uuid) { Array($0) })
        #expect(throws: DataProtectionError.tampered) { try KeyStore.rewrap(slot: moved, from: old, to: new) }
    }

    @Test func aStoredLogKeyIsAdoptedOnlyIntoAnEmptyStoreAndANewerFormatIsRefused() throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = try directory()
        defer { try? FileManager.default.removeItem(atPath: source) }
        _ = try KeyStore(dataDirectory: source, environment: [:]).createDataKey(for: UUID())
        _ = try KeyStore.rotateKeyEncryptionKey(dataDirectory: source, environment: [:], newKey: nil)
        let kek = try KeyEncryptionKey.load(file: source + "/kek")
        let rotated = try KeyStore(file: source + "/keys", kek: kek, keySource: "test")
        let slot = try #require(rotated.storedLogSigningSlot)

        let fresh = try KeyStore(file: path + "/keys", kek: kek, keySource: "test")
        try fresh.adoptLogSigningSlot(slot)
        #expect(fresh.logSigningKey?.publicKey == rotated.logSigningKey?.publicKey)
        #expect(
            try KeyStore(file: path + "/keys", kek: kek, keySource: "test").logSigningKey?.publicKey
                == rotated.logSigningKey?.publicKey)
        #expect(throws: DataProtectionError.self) { try fresh.adoptLogSigningSlot(slot) }
        let other = try KeyStore(file: path + "/other", kek: try KeyEncryptionKey.generate(), keySource: "test")
        #expect(throws: DataProtectionError.tampered) { try other.adoptLogSigningSlot(slot) }

        let file = open(path + "/keys", O_WRONLY)
        #expect(pwrite(file, [0, 0, 0, 3] as [UInt8], 4, 16) == 4)
        close(file)
        #expect(throws: DataProtectionError.self) { try KeyStore(file: path + "/keys", kek: kek, keySource: "test") }
    }
}
