import Foundation
import TestSupport
import Testing

@testable import DataProtection

@Suite(.ownThreads) struct AESGCMContextTests {
    let key = [UInt8](repeating: 7, count: 32)

    @Test func aReusedContextSealsAndOpensWhatTheOneShotFunctionsDo() throws {
        let context = try AESGCMContext()
        for size in [0, 1, 15, 16, 17, 150, 1_000] {
            let plaintext = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let sealed = try plaintext.withUnsafeBytes { plain in
                try key.withUnsafeBytes { key in
                    try [UInt8]([9, 9]).withUnsafeBytes { try context.seal(plain, key: key, associatedData: $0) }
                }
            }
            #expect(sealed.count == size + AESGCM.overhead)
            #expect(try sealed.withUnsafeBytes { try AESGCM.open($0, key: key, associatedData: [9, 9]) } == plaintext)
            let resealed = try AESGCM.seal(plaintext, key: key, associatedData: [9, 9])
            let opened = try resealed.withUnsafeBytes { sealed in
                try key.withUnsafeBytes { key in
                    try [UInt8]([9, 9]).withUnsafeBytes { try context.open(sealed, key: key, associatedData: $0) }
                }
            }
            #expect(opened == plaintext)
        }
    }

    @Test func aReusedContextRefusesChangedBytesAndGivesFreshNonces() throws {
        let context = try AESGCMContext()
        let seal = {
            try [UInt8]([1, 2, 3]).withUnsafeBytes { plain in
                try self.key.withUnsafeBytes {
                    try context.seal(plain, key: $0, associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
                }
            }
        }
        // More seals than one batch of nonces holds: no nonce repeats across a refill.
        var nonces = Set<[UInt8]>()
        for _ in 0..<5_000 { nonces.insert(Array(try seal().prefix(AESGCM.nonceSize))) }
        #expect(nonces.count == 5_000)
        var sealed = try seal()
        sealed[sealed.count - 1] ^= 1
        #expect(throws: DataProtectionError.tampered) {
            try sealed.withUnsafeBytes { sealed in
                try self.key.withUnsafeBytes {
                    _ = try context.open(sealed, key: $0, associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
                }
            }
        }
    }

    @Test func aKeyedOpenerOpensManyValuesAndRefusesChangedOnesWithoutLosingItsKey() throws {
        let context = try AESGCMContext()
        let values = (0..<40).map { number in
            (0..<(number % 3 == 0 ? 0 : 32)).map { UInt8(truncatingIfNeeded: $0 &+ number) }
        }
        let sealed = try values.enumerated().map { number, value in
            try AESGCM.seal(value, key: key, associatedData: [UInt8(number)])
        }
        try key.withUnsafeBytes { key in
            try context.withOpener(key: key) { opener in
                for (number, value) in values.enumerated() {
                    var changed = sealed[number]
                    changed[AESGCM.nonceSize] ^= 1
                    var output = [UInt8](repeating: 0, count: value.count)
                    // A changed value, a wrong context, then the right one: only the last opens.
                    for (bytes, context, opens) in [
                        (changed, UInt8(number), false), (sealed[number], UInt8(number + 1), false),
                        (sealed[number], UInt8(number), true),
                    ] {
                        let open = {
                            try bytes.withUnsafeBytes { bytes in
                                try [context].withUnsafeBytes { ad in
                                    try output.withUnsafeMutableBytes {
                                        // An empty output may have no address at all.
                                        let into = $0.isEmpty ? UnsafeMutableRawBufferPointer(start: nil, count: 0) : $0
                                        try opener.open(bytes, associatedData: ad, into: into)
                                    }
                                }
                            }
                        }
                        if opens {
                            try open()
                            #expect(output == value)
                        } else {
                            #expect(throws: DataProtectionError.tampered) { try open() }
                        }
                    }
                }
            }
        }
    }
}

@Suite(.ownThreads) struct KeyStoreBulkTests {
    @Test func everyKeyIsReadInBulkExceptErasedOnesAndUnwantedOnes() throws {
        let path = NSTemporaryDirectory() + "authlog-keys-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try KeyStore(dataDirectory: path, environment: [:])
        let users = (0..<40).map { _ in UUID() }
        var keys = try Dictionary(uniqueKeysWithValues: zip(users, store.createDataKeys(for: users)))
        #expect(try store.destroyDataKey(for: users[3]))
        keys[users[3]] = nil
        #expect(store.storedKeyCount == 40)

        var seen: [UUID: [UInt8]] = [:]
        var order: [UUID] = []
        let everyone: (UUID) -> Bool = { _ in true }
        try KeyStore(dataDirectory: path, environment: [:]).forEachDataKey(where: everyone) { user, key in
            seen[user] = Array(key)
            order.append(user)
        }
        #expect(seen == keys)
        #expect(order == users.filter { $0 != users[3] })

        // A changed wrapped key is reported, not skipped.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path + "/keys"))
        try handle.seek(toOffset: UInt64(64 + 5 * 80 + 40))
        let byte = try handle.read(upToCount: 1)?.first ?? 0
        try handle.seek(toOffset: UInt64(64 + 5 * 80 + 40))
        try handle.write(contentsOf: [byte ^ 0xFF])  // always a change (writing 0xFF was none 1 time in 256)
        try handle.close()
        #expect(throws: DataProtectionError.tampered) {
            try store.forEachDataKey(where: everyone) { _, _ in }
        }

        var some: [UUID] = []
        let two: (UUID) -> Bool = { $0 == users[7] || $0 == users[3] }
        try store.forEachDataKey(where: two) { user, _ in some.append(user) }
        #expect(some == [users[7]])
    }
}
