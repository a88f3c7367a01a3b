import TestSupport
import Testing

@testable import PasswordHashing

@Suite(.ownThreads) struct SecureBytesTests {
    /// Three fills of the reserve and more: every draw whole, none repeated, none all zero
    /// (a byte handed out twice, or a wiped one handed out, would show here).
    @Test func drawsOverManyFillsAreAllDifferent() throws {
        let draws = SecureBytes.reserveCapacity / 32 * 3 + 5
        var seen = Set<[UInt8]>()
        for _ in 0..<draws {
            let bytes = try SecureBytes.random(32)
            #expect(bytes.count == 32)
            #expect(bytes.contains { $0 != 0 })
            seen.insert(bytes)
        }
        #expect(seen.count == draws)
    }

    /// Sizes that do not divide the reserve, the largest it serves, and larger ones that bypass it.
    @Test(arguments: [1, 17, SecureBytes.reserveLimit, SecureBytes.reserveLimit + 1, 5000])
    func everySizeComesWholeAndUnrepeated(count: Int) throws {
        let draws = count == 1 ? 16 : 600
        var seen = Set<[UInt8]>()
        for _ in 0..<draws {
            let bytes = try SecureBytes.random(count)
            #expect(bytes.count == count)
            seen.insert(bytes)
        }
        // One-byte draws repeat by chance; longer ones must not.
        #expect(count == 1 || seen.count == draws)
        #expect(try SecureBytes.random(0).isEmpty)
    }

    /// Half the bits set, over 1 MiB drawn 32 bytes at a time.
    @Test func theBitsAreBalanced() throws {
        var ones = 0
        let draws = (1 << 20) / 32
        for _ in 0..<draws {
            for byte in try SecureBytes.random(32) { ones += byte.nonzeroBitCount }
        }
        let share = Double(ones) / Double(draws * 32 * 8)
        #expect((0.499...0.501).contains(share))
    }

    /// Eight threads at once share the reserve without handing a byte out twice.
    @Test func threadsAtOnceNeverShareBytes() async throws {
        let all = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
            for _ in 0..<8 {
                group.addTask { try (0..<1000).map { _ in try SecureBytes.random(32) } }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(all.count == 8000)
        #expect(Set(all).count == 8000)
    }

    /// What a draw takes is wiped from the reserve at once; what is left is untouched.
    @Test func takenBytesAreWipedFromTheReserve() throws {
        var reserve = Reserve(capacity: 128)
        let taken = reserve.take(32)
        let first = try #require(taken)
        #expect(first.contains { $0 != 0 })
        #expect(reserve.storage[0..<32].allSatisfy { $0 == 0 })
        #expect(reserve.storage[32..<128].contains { $0 != 0 })
        let taken2 = reserve.take(96)
        let second = try #require(taken2)
        #expect(second != Array(repeating: 0, count: 96))
        #expect(reserve.storage.allSatisfy { $0 == 0 })
        // The next take fills it again.
        let taken3 = reserve.take(8)
        let third = try #require(taken3)
        #expect(reserve.storage[8..<128].contains { $0 != 0 })
        #expect(third.count == 8)
    }
}
