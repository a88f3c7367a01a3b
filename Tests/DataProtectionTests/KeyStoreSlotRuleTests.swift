import DataProtection
import Foundation
import Testing

/// The key store's rules in one process: two stores on one file stand for two processes.
@Suite struct KeyStoreSlotRuleTests {
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
