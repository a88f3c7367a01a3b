import Glibc
import Synchronization
import TestSupport
import Testing

@testable import PasswordHashing

/// Serialized: two tests move the fork count.
@Suite(.ownThreads, .serialized) struct SecureBytesTests {
    /// Three fills of the reserve and more: every draw whole, none repeated, none all zero
    /// (a draw handed out twice, or wiped bytes handed out, would show here; draws that share
    /// only some bytes are `takenBytesAreWipedFromTheReserve`'s to catch).
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

    /// What a draw takes is wiped from the reserve at once; what is left is untouched, and is
    /// exactly what the next draws take, in order.
    @Test func takenBytesAreWipedFromTheReserve() throws {
        var reserve = Reserve(capacity: 128)
        let taken = reserve.take(32)
        let first = try #require(taken)
        #expect(first.contains { $0 != 0 })
        #expect(reserve.storage[0..<32].allSatisfy { $0 == 0 })
        let rest = Array(reserve.storage[32..<128])
        #expect(rest.contains { $0 != 0 })
        let taken2 = reserve.take(96)
        #expect(taken2 == rest)
        #expect(reserve.storage.allSatisfy { $0 == 0 })
        // The next take fills it again.
        let taken3 = reserve.take(8)
        #expect(taken3?.count == 8)
        #expect(reserve.storage[8..<128].contains { $0 != 0 })
    }

    /// A fill that fails hands nothing out, not even what it wrote before failing, and
    /// leaves the reserve wiped and empty; the next fill that works serves again.
    @Test func aFailedFillHandsOutNothingAndLeavesTheReserveEmpty() throws {
        let fails = Atomic<Bool>(true)
        var reserve = Reserve(capacity: 64) { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 0xAB)
            return !fails.load(ordering: .relaxed)
        }
        #expect(reserve.take(16) == nil)
        #expect(reserve.storage.allSatisfy { $0 == 0 })
        #expect(reserve.start == 64)
        #expect(reserve.take(1) == nil)
        fails.store(false, ordering: .relaxed)
        #expect(reserve.take(16) == Array(repeating: 0xAB, count: 16))
    }

    /// After a fork the reserve is filled again before it hands anything out: the child never
    /// hands out the bytes the parent would hand out next. (The fork is the count's: the
    /// handler `pthread_atfork` runs in a child adds one.)
    @Test func aForkEmptiesTheReserve() throws {
        var reserve = Reserve(capacity: 128)
        _ = reserve.take(32)
        let next = Array(reserve.storage[32..<64])
        SecureBytes.forks.add(1, ordering: .relaxed)
        let taken = reserve.take(32)
        let afterFork = try #require(taken)
        #expect(afterFork != next)
        #expect(reserve.start == 32)
        #expect(try SecureBytes.random(32).count == 32)
    }

    /// The count is kept by a real fork: the child sees one more than the parent did.
    @Test func aRealForkIsCounted() throws {
        _ = try SecureBytes.random(1)  // the reserve is made, and the fork handler registered
        let before = SecureBytes.forks.load(ordering: .relaxed)
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]) }
        // Swift does not offer fork(); the child only loads a number, writes it and exits.
        typealias Fork = @convention(c) () -> pid_t
        let fork = unsafeBitCast(try #require(dlsym(nil, "fork")), to: Fork.self)
        let child = fork()
        if child == 0 {
            var seen = SecureBytes.forks.load(ordering: .relaxed)
            _ = write(ends[1], &seen, MemoryLayout<Int>.size)
            _exit(0)
        }
        close(ends[1])
        try #require(child > 0)
        var seen = -1
        let count = read(ends[0], &seen, MemoryLayout<Int>.size)
        var status: Int32 = 0
        _ = waitpid(child, &status, 0)
        #expect(count == MemoryLayout<Int>.size)
        #expect(seen == before + 1)
        #expect(SecureBytes.forks.load(ordering: .relaxed) == before)
    }
}
