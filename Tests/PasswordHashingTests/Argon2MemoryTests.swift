import TestSupport
import Testing

@testable import PasswordHashing

/// A hashing thread keeps its Argon2 block between hashes, wiped.
@Suite(.ownThreads) struct Argon2MemoryTests {
    let hasher = Argon2idHasher(memoryKiB: 1_024, iterations: 1, parallelism: 1)

    /// What a pool thread keeps after a hash: where its block is, its size, and whether every
    /// byte of it is zero.
    struct Kept: Equatable, Sendable {
        var address: Int
        var bytes: Int
        var wiped: Bool
    }

    static func kept() -> Kept? {
        Argon2Memory.keptBlock.map { block in
            Kept(address: Int(bitPattern: block.baseAddress), bytes: block.count, wiped: block.allSatisfy { $0 == 0 })
        }
    }

    @Test func aPoolThreadKeepsOneWipedBlockAndUsesItForTheNextHash() async throws {
        let pool = HashingPool(threads: 1)
        defer { pool.stop() }
        let hasher = self.hasher
        let (first, second, verified) = try await pool.run {
            let stored = try hasher.hash("correct horse battery staple")
            let first = Self.kept()
            let verified = try hasher.verify("correct horse battery staple", against: PHCString(parsing: stored))
            return (first, Self.kept(), verified)
        }
        #expect(verified)
        #expect(first?.bytes == 1_024 * 1_024)
        // libargon2 wiped the block before handing it back: no byte derived from the password
        // stays in memory between logins.
        #expect(first?.wiped == true)
        #expect(second == first, "the second hash ran in the block the first one left")
    }

    @Test func aBlockOfAnotherSizeReplacesTheKeptOneAndOneOverTheLimitIsNotKept() async throws {
        let pool = HashingPool(threads: 1)
        defer { pool.stop() }
        let small = Argon2idHasher(memoryKiB: 256, iterations: 1, parallelism: 1)
        let overLimit = Argon2idHasher(memoryKiB: Argon2Memory.keptLimit / 1_024 + 1_024, iterations: 1, parallelism: 1)
        let hasher = self.hasher
        let (afterSmall, afterLarger, afterOverLimit) = try await pool.run {
            _ = try small.hash("pw")
            let afterSmall = Self.kept()
            _ = try hasher.hash("pw")
            let afterLarger = Self.kept()
            _ = try overLimit.hash("pw")
            return (afterSmall, afterLarger, Self.kept())
        }
        #expect(afterSmall?.bytes == 256 * 1_024)
        #expect(afterLarger?.bytes == 1_024 * 1_024)
        #expect(afterOverLimit == nil)
    }

    /// Once hashes stop coming, the pool's threads give their blocks back: a server at rest
    /// holds no Argon2 memory.
    @Test func aPoolThreadIdleForItsSetTimeFreesItsBlock() async throws {
        let pool = HashingPool(threads: 1, blockIdleSeconds: 0.05)
        defer { pool.stop() }
        let hasher = self.hasher
        let kept = try await pool.run {
            _ = try hasher.hash("pw")
            return Self.kept()
        }
        #expect(kept != nil)
        // Each look comes after a pause longer than the idle time; each look is a job, which
        // starts the idle time again.
        var freed = false
        for _ in 0..<50 where !freed {
            try await Task.sleep(for: .milliseconds(100))
            freed = try await pool.run { Self.kept() == nil }
        }
        #expect(freed)
    }

    @Test func aThreadOutsideThePoolKeepsNothing() throws {
        _ = try hasher.hash("pw")
        #expect(Self.kept() == nil)
    }
}
