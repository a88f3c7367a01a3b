import CArgon2
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import PasswordHashing

@Suite(.ownThreads) struct Argon2idTests {
    let hasher = Argon2idHasher()

    @Test func hashesAreArgon2idPHCStringsAtOWASPsMinimumThatVerify() throws {
        let stored = try hasher.hash("correct horse battery staple")
        #expect(stored.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        let phc = try PHCString(parsing: stored)
        #expect(phc.salt.count == 16 && phc.hash.count == 32)
        #expect(phc.text == stored)
        #expect(try hasher.verify("correct horse battery staple", against: phc))
        #expect(try !hasher.verify("correct horse battery stapler", against: phc))
        #expect(try hasher.hash("same") != hasher.hash("same"))  // fresh salt each time
    }

    @Test func parametersOverTheCapAreRefusedBeforeAnyWork() throws {
        let bomb = try PHCString(parsing: "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")
        #expect(throws: PasswordHashError.self) { try hasher.verify("x", against: bomb) }
        let slow = try PHCString(parsing: "$argon2id$v=19$m=19456,t=100000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")
        #expect(throws: PasswordHashError.self) { try hasher.verify("x", against: slow) }
    }

    @Test func weakerStoredParametersAskForARehash() throws {
        let weak = Argon2idHasher(memoryKiB: 1_024, iterations: 1, parallelism: 1)
        let stored = try PHCString(parsing: try weak.hash("pw"))
        #expect(hasher.isWeaker(stored))
        #expect(!weak.isWeaker(try PHCString(parsing: try hasher.hash("pw"))))
    }

    /// The hasher writes its PHC string itself (libargon2's encoder takes no allocator): it is
    /// byte for byte what `argon2id_hash_encoded` writes for the same password and salt.
    @Test(arguments: [
        (Argon2idHasher(memoryKiB: 1_024, iterations: 1, parallelism: 1), "correct horse battery staple"),
        (Argon2idHasher(memoryKiB: 512, iterations: 3, parallelism: 2), ""),
        (Argon2idHasher(memoryKiB: 64, iterations: 2, parallelism: 4), "pässwörd ✓"),
    ])
    func phcStringsAreLibargon2sOwn(hasher: Argon2idHasher, password: String) throws {
        let salt = try SecureBytes.random(16)
        let ours = try hasher.hash(password, salt: salt)
        let bytes = Array(password.utf8)
        let length = argon2_encodedlen(
            UInt32(hasher.iterations), UInt32(hasher.memoryKiB), UInt32(hasher.parallelism), UInt32(salt.count), 32,
            Argon2_id)
        var encoded = [CChar](repeating: 0, count: length + 1)
        let status = argon2id_hash_encoded(
            UInt32(hasher.iterations), UInt32(hasher.memoryKiB), UInt32(hasher.parallelism), bytes, bytes.count, salt,
            salt.count, 32, &encoded, encoded.count)
        #expect(status == ARGON2_OK.rawValue)
        #expect(ours == String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        #expect(try hasher.verify(password, against: PHCString(parsing: ours)))
    }
}

@Suite(.ownThreads) struct ScryptTests {
    @Test func matchesTheRFC7914TestVector() throws {
        // RFC 7914 §12: scrypt("pleaseletmein", "SodiumChloride", N=16384, r=8, p=1, dkLen=64).
        let expected =
            "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"
        let hash = stride(from: 0, to: expected.count, by: 2).map { offset -> UInt8 in
            let start = expected.index(expected.startIndex, offsetBy: offset)
            return UInt8(expected[start..<expected.index(start, offsetBy: 2)], radix: 16)!
        }
        let phc = PHCString(
            algorithm: "scrypt", version: nil, parameters: [("ln", 14), ("r", 8), ("p", 1)],
            salt: Array("SodiumChloride".utf8), hash: hash)
        #expect(try ScryptHasher().verify("pleaseletmein", against: phc))
        #expect(try !ScryptHasher().verify("pleaseletmeout", against: phc))
    }

    @Test func theDefaultIsN2To17AndRoundTrips() throws {
        let hasher = ScryptHasher()
        let stored = try hasher.hash("a long enough passphrase")
        #expect(stored.hasPrefix("$scrypt$ln=17,r=8,p=1$"))
        #expect(try hasher.verify("a long enough passphrase", against: PHCString(parsing: stored)))
    }

    @Test func memoryOverTheCapIsRefused() throws {
        let bomb = try PHCString(parsing: "$scrypt$ln=22,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")
        #expect(throws: PasswordHashError.self) { try ScryptHasher().verify("x", against: bomb) }
    }
}

@Suite(.ownThreads) struct PasswordHashingTests {
    @Test func bothAlgorithmsVerifyAndTheOtherOneAsksForARehash() throws {
        let argon = PasswordHashing()
        let scryptStored = try ScryptHasher(logN: 12).hash("passphrase")
        let result = try argon.verify("passphrase", against: scryptStored)
        #expect(result.matches && result.needsRehash)
        let fresh = try argon.verify("passphrase", against: try argon.hash("passphrase"))
        #expect(fresh.matches && !fresh.needsRehash)
        let scrypt = PasswordHashing(current: ScryptHasher(logN: 12))
        #expect(try scrypt.hash("x").hasPrefix("$scrypt$ln=12,"))
    }

    @Test(arguments: [
        "", "plaintext", "$argon2id$v=19$m=1,t=1$salt$hash", "$md5$x$y$z", "$argon2id$v=19$m=a,t=1,p=1$c2FsdA$aGFzaA",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA==$aGFzaA",
    ])
    func malformedOrUnknownHashesAreTypedErrors(stored: String) {
        #expect(throws: PasswordHashError.self) { try PasswordHashing().verify("x", against: stored) }
    }
}

@Suite(.ownThreads) struct HashingPoolTests {
    @Test func aHundredJobsNeverRunMoreThanThePoolsThreadsAtOnce() async throws {
        let pool = HashingPool(threads: 2)
        defer { pool.stop() }
        let running = Concurrency()
        let hasher = Argon2idHasher(memoryKiB: 1_024, iterations: 1, parallelism: 1)
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<100 {
                group.addTask {
                    try await pool.run {
                        running.state.withLock {
                            $0.now += 1
                            $0.most = max($0.most, $0.now)
                        }
                        defer { running.state.withLock { $0.now -= 1 } }
                        let stored = try hasher.hash("password \(index)")
                        return try hasher.verify("password \(index)", against: PHCString(parsing: stored))
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 100 && results.allSatisfy { $0 })
        #expect(running.state.withLock { $0.most } <= 2)
        #expect(running.state.withLock { $0.most } == 2)
    }

    @Test func errorsComeBackToTheCaller() async {
        let pool = HashingPool(threads: 1)
        defer { pool.stop() }
        await #expect(throws: PasswordHashError.malformedHash) {
            try await pool.run { try PHCString(parsing: "nope") }
        }
    }
}

/// How many jobs run at once, and the most seen.
final class Concurrency: Sendable {
    let state = Mutex((now: 0, most: 0))
}

@Suite(.ownThreads) struct HashingPoolBoundTests {
    /// A job that holds the pool's one thread until released.
    final class Gate: Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        let started = Atomic(false)

        func hold() {
            started.store(true, ordering: .sequentiallyConsistent)
            semaphore.wait()
        }

        func waitUntilHeld() async {
            while !started.load(ordering: .sequentiallyConsistent) { await Task.yield() }
        }
    }

    @Test func aJobThatWouldWaitTooLongIsRefusedAtOnce() async throws {
        let pool = HashingPool(threads: 1, maximumWait: 0.05)
        defer { pool.stop() }
        // Teach the pool that a job takes about 0.1 s.
        try await pool.run { Thread.sleep(forTimeInterval: 0.1) }
        let gate = Gate()
        let holding = Task { try await pool.run { gate.hold() } }
        await gate.waitUntilHeld()
        // One job may wait behind the running one (nothing ahead of it in the queue) ...
        let first = Task { try await pool.run { 1 } }
        while pool.queueDepth < 1 { await Task.yield() }
        // ... a second would wait about 0.1 s behind the first: over 0.05 s, refused.
        await #expect(throws: HashingPoolBusy.self) { try await pool.run { 2 } }
        gate.semaphore.signal()
        try await holding.value
        #expect(try await first.value == 1)
    }

    final class Order: Sendable {
        let values = Mutex<[Int]>([])
    }

    @Test func jobsRunInTheOrderTheyCame() async throws {
        let pool = HashingPool(threads: 1)
        defer { pool.stop() }
        let gate = Gate()
        let order = Order()
        let holding = Task { try await pool.run { gate.hold() } }
        await gate.waitUntilHeld()
        var tasks: [Task<Void, any Error>] = []
        for index in 0..<100 {
            tasks.append(Task { try await pool.run { order.values.withLock { $0.append(index) } } })
            while pool.queueDepth < index + 1 { await Task.yield() }
        }
        gate.semaphore.signal()
        try await holding.value
        for task in tasks { try await task.value }
        #expect(order.values.withLock { $0 } == Array(0..<100))
    }
}
