import DataProtection
import Foundation
import Synchronization
import TestSupport
import Testing

/// The key store's rules in one process: two stores on one file stand for two processes.
@Suite(.ownThreads) struct KeyStoreSlotRuleTests {
    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "authlog-slots-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func anErasureByOneStoreDropsTheKeyAnotherHasCached() throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try KeyStore(dataDirectory: path, environment: [:])
        let user = UUID()
        let other = UUID()
        let key = try writer.createDataKey(for: user)
        let otherKey = try writer.createDataKey(for: other)
        let reader = try KeyStore(dataDirectory: path, environment: [:], readOnly: true)
        #expect(try reader.dataKey(for: user) == key)  // now cached by the reader
        #expect(try writer.destroyDataKey(for: user))
        #expect(try reader.dataKey(for: user) == nil)
        #expect(try reader.dataKey(for: other) == otherKey)  // the others read their slots again
    }

    /// Found by the kill campaign: two registrations at once in one authd could write their
    /// slots at the same offset, and one user's personal data was lost for good.
    @Test func keysCreatedByManyThreadsAtOnceAllReachTheFile() throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try KeyStore(dataDirectory: path, environment: [:])
        let users = (0..<1_024).map { _ in UUID() }
        let created = Mutex<[UUID: [UInt8]]>([:])
        DispatchQueue.concurrentPerform(iterations: users.count) { index in
            if let key = try? store.createDataKey(for: users[index]) { created.withLock { $0[users[index]] = key } }
        }
        let reader = try KeyStore(dataDirectory: path, environment: [:], readOnly: true)
        let keys = created.withLock { $0 }
        #expect(keys.count == users.count)
        for user in users { #expect(try reader.dataKey(for: user) == keys[user], "the key of \(user) was lost") }
    }

    @Test func aSecondSlotForAUserIsRefusedWhateverTheWay() throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try KeyStore(dataDirectory: path, environment: [:])
        let second = try KeyStore(dataDirectory: path, environment: [:])
        let user = UUID()
        _ = try first.createDataKey(for: user)
        let slot = try #require(try first.storedSlot(for: user))
        #expect(throws: DataProtectionError.self) { _ = try second.createDataKey(for: user) }
        #expect(throws: DataProtectionError.self) { _ = try second.createDataKeys(for: [UUID(), user]) }
        #expect(throws: DataProtectionError.self) { try second.importSlots([slot]) }
        let fresh = UUID()
        #expect(throws: DataProtectionError.self) { _ = try second.createDataKeys(for: [fresh, fresh]) }
        #expect(try second.users() == [user])
    }
}
