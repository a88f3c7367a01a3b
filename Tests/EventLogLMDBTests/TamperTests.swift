import EventLog
import EventLogLMDB
import Foundation
import LMDB
import TestSupport
import Testing

/// Changes the stored log behind the log's back, the way an attacker with file access would.
func tamper(_ directory: String, _ body: (borrowing Transaction, Database) throws -> Void) throws {
    let environment = try Environment(path: directory, options: .init(maxDatabases: 16))
    defer { environment.close() }
    let txn = try environment.beginTransaction(readOnly: false)
    let events = try #require(try txn.openDatabase("events"))
    try body(txn, events)
    try txn.commit()
}

func positionKey(_ position: UInt64) -> [UInt8] {
    withUnsafeBytes(of: position.bigEndian) { Array($0) }
}

func storedBytes(_ txn: borrowing Transaction, _ db: Database, _ position: UInt64) throws -> [UInt8] {
    let value = try positionKey(position).withUnsafeBytes { try txn.get(db, key: $0) }
    return [UInt8](try #require(value))
}

func put(_ txn: borrowing Transaction, _ db: Database, _ position: UInt64, _ bytes: [UInt8]) throws {
    try positionKey(position).withUnsafeBytes { key in
        try bytes.withUnsafeBytes { try txn.put(db, key: key, value: $0) }
    }
}

@Suite(.ownThreads) struct TamperTests {
    /// A log of ten events, closed, in a fresh directory.
    func tenEvents() async throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        for index in 1...10 {
            _ = try await log.append([event("E", "event \(index)")], to: UUID(), expecting: .noStream)
        }
        log.close()
        return directory
    }

    func verification(_ directory: TemporaryDirectory) throws -> ChainVerification {
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { log.close() }
        return try log.verify()
    }

    @Test func anUntouchedLogVerifies() async throws {
        let directory = try await tenEvents()
        guard case .intact(let count, let through, _) = try verification(directory) else {
            Issue.record("expected an intact chain")
            return
        }
        #expect(count == 10 && through == 10)
    }

    @Test(arguments: [0, 40, 60, 100])
    func oneChangedByteIsFoundAtItsPosition(offset: Int) async throws {
        let directory = try await tenEvents()
        try tamper(directory.path) { txn, events in
            var bytes = try storedBytes(txn, events, 6)
            bytes[min(offset, bytes.count - 1)] ^= 0x01
            try put(txn, events, 6, bytes)
        }
        #expect(try verification(directory).breakPosition == 6)
    }

    @Test func aDeletedEventIsFoundAtItsPosition() async throws {
        let directory = try await tenEvents()
        try tamper(directory.path) { txn, events in
            _ = try positionKey(4).withUnsafeBytes { try txn.delete(events, key: $0) }
        }
        #expect(try verification(directory) == .broken(ChainBreak(position: 4, reason: .missing)))
    }

    @Test func twoSwappedEventsAreFoundAtTheFirst() async throws {
        let directory = try await tenEvents()
        try tamper(directory.path) { txn, events in
            let three = try storedBytes(txn, events, 3)
            let eight = try storedBytes(txn, events, 8)
            try put(txn, events, 3, eight)
            try put(txn, events, 8, three)
        }
        #expect(try verification(directory) == .broken(ChainBreak(position: 3, reason: .positionMismatch(found: 8))))
    }

    @Test func aCutOffTailIsFound() async throws {
        let directory = try await tenEvents()
        try tamper(directory.path) { txn, events in
            _ = try positionKey(10).withUnsafeBytes { try txn.delete(events, key: $0) }
        }
        #expect(try verification(directory) == .broken(ChainBreak(position: 10, reason: .truncated(recordedHead: 10))))
    }

    @Test func aRewrittenEventWithARecomputedOwnHashStillBreaksTheNextLink() async throws {
        let directory = try await tenEvents()
        try tamper(directory.path) { txn, events in
            // Forge event 5 with a valid hash over its new bytes: event 6 no longer chains to it.
            var bytes = try storedBytes(txn, events, 5)
            let canonicalEnd = bytes.count - 32
            bytes[canonicalEnd - 1] ^= 0x20
            let previousBytes = Array(try storedBytes(txn, events, 4).suffix(32))
            let previous = previousBytes.withUnsafeBytes { ChainHash(bytes: $0) }
            var scratch: [UInt8] = []
            let forged = bytes[..<canonicalEnd].withUnsafeBytes { previous.next(canonicalBytes: $0, scratch: &scratch) }
            bytes.replaceSubrange(canonicalEnd..., with: forged.bytes)
            try put(txn, events, 5, bytes)
        }
        #expect(try verification(directory) == .broken(ChainBreak(position: 6, reason: .hashMismatch)))
    }

    @Test func verifyChecksARangeFromAnInnerPosition() async throws {
        let directory = try await tenEvents()
        let log = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { log.close() }
        guard case .intact(let count, let through, _) = try log.verify(from: 4, through: 7) else {
            Issue.record("expected an intact range")
            return
        }
        #expect(count == 4 && through == 7)
    }

    @Test func authctlVerifyExitsNonZeroAndNamesThePosition() async throws {
        let directory = try await tenEvents()
        let clean = try run(productPath("authctl"), ["--data", directory.path, "verify"])
        // Intact, but written without a key: nothing signed it (exit 3).
        #expect(clean.status == 3)
        #expect(clean.stdout.contains("10 events verified"))
        try tamper(directory.path) { txn, events in
            var bytes = try storedBytes(txn, events, 7)
            bytes[50] ^= 0xFF
            try put(txn, events, 7, bytes)
        }
        let broken = try run(productPath("authctl"), ["--data", directory.path, "verify"])
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("position 7"))
        #expect(broken.stderr.split(separator: "\n").count == 1)
    }
}
