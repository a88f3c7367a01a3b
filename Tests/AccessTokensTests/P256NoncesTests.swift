import COpenSSL
import Foundation
import Signatures
import TestSupport
import Testing

/// ES256 signatures with nonces made ahead of time (``P256Nonces``) against the signatures
/// OpenSSL makes whole: each must verify as those do, and no nonce may serve twice (two
/// signatures sharing one give away the private key, and show it as the same r).
@Suite(.ownThreads) struct P256NoncesTests {
    static func r(_ signature: [UInt8]) -> [UInt8] { Array(signature.prefix(32)) }

    @Test func eachSignatureTakesANonceOfItsOwnAndVerifies() throws {
        let nonces = P256Nonces(capacity: 100)
        while nonces.addBatch() == .added {}
        #expect(nonces.count == 100)
        #expect(nonces.addBatch() == .full)
        let key = try P256Key.generate(nonces: nonces)
        let verifier = try P256Key(x: key.x, y: key.y)
        // The same message each time: only the nonce tells the signatures apart.
        let message = Array("eyJhbGciOiJFUzI1NiJ9.the same claims".utf8)
        let signatures = try (0..<100).map { _ in try key.sign(message) }
        #expect(nonces.signatures.fromPool == 100)
        #expect(nonces.signatures.withoutPool == 0)
        #expect(nonces.count == 0)
        #expect(signatures.allSatisfy { verifier.verify($0, of: message) })
        #expect(!signatures.contains { verifier.verify($0, of: message + [0]) })
        #expect(Set(signatures.map(Self.r)).count == 100)
        // The pool empty, a signature makes its own nonce.
        let own = try key.sign(message)
        #expect(nonces.signatures.withoutPool == 1)
        #expect(verifier.verify(own, of: message))
        #expect(!signatures.map(Self.r).contains(Self.r(own)))
    }

    /// Signers on many threads at once share one pool: those that find it busy make their own
    /// nonce; none gets a nonce another got.
    @Test func signersOnManyThreadsNeverShareANonce() async throws {
        let nonces = P256Nonces(capacity: 800)
        while nonces.addBatch() == .added {}
        let key = try P256Key.generate(nonces: nonces)
        let message = Array("eyJhbGciOiJFUzI1NiJ9.the same claims".utf8)
        let signatures = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
            for _ in 0..<8 {
                group.addTask { try (0..<100).map { _ in try key.sign(message) } }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let counts = nonces.signatures
        #expect(counts.fromPool + counts.withoutPool == 800)
        #expect(counts.fromPool > 0)
        #expect(nonces.count == 800 - counts.fromPool)
        #expect(Set(signatures.map(Self.r)).count == 800)
        #expect(signatures.allSatisfy { key.verify($0, of: message) })
    }

    /// The refiller fills an empty pool, sleeps while it is full, fills it again once
    /// signatures have used a quarter of it, and ends when stopped, the nonces left wiped.
    @Test func theRefillerKeepsThePoolFullUntilStopped() async throws {
        let nonces = P256Nonces(capacity: 40)
        let ended = DispatchSemaphore(value: 0)
        Thread {
            nonces.runRefiller()
            ended.signal()
        }.start()
        try await waitUntil { nonces.count == 40 }
        let key = try P256Key.generate(nonces: nonces)
        for index in 0..<10 { _ = try key.sign(Array("message \(index)".utf8)) }
        #expect(nonces.signatures.fromPool == 10)
        try await waitUntil { nonces.count == 40 }
        nonces.stop()
        #expect(ended.wait(timeout: .now() + 10) == .success)
        // Stopped, it wipes what it held and adds nothing more: signatures make their own.
        #expect(nonces.count == 0)
        #expect(nonces.addBatch() == .full)
        let own = try key.sign(Array("after".utf8))
        #expect(nonces.signatures.withoutPool == 1 && key.verify(own, of: Array("after".utf8)))
    }

    /// A batch's nonces against OpenSSL's arithmetic for one k at a time: each r is x(kG) mod n
    /// as `EC_POINT_mul` and `EC_POINT_get_affine_coordinates` make it for that k alone, and
    /// each k⁻¹ times k is 1 mod n. The batch shares its two inversions among its nonces, so a
    /// slip in either shows in every nonce but the one it started from.
    @Test(arguments: [1, 2, P256Nonces.batchSize]) func aBatchsNoncesAreThoseOfItsKMadeOneAtATime(count: Int) throws {
        let group = try #require(authlog_p256_group())
        let context = try #require(BN_CTX_new())
        let point = try #require(EC_POINT_new(group))
        let x = try #require(BN_new())
        let product = try #require(BN_new())
        var inverses = [OpaquePointer?](repeating: nil, count: count)
        var rs = inverses
        var ks = inverses
        defer {
            for number in inverses + rs + ks { BN_clear_free(number) }
            BN_free(product)
            BN_free(x)
            EC_POINT_free(point)
            BN_CTX_free(context)
            EC_GROUP_free(group)
        }
        try #require(authlog_p256_nonces(group, Int32(count), &inverses, &rs, &ks) == 1)
        let order = EC_GROUP_get0_order(group)
        for index in 0..<count {
            let (k, inverse, r) = (try #require(ks[index]), try #require(inverses[index]), try #require(rs[index]))
            try #require(EC_POINT_mul(group, point, k, nil, nil, context) == 1)
            try #require(EC_POINT_get_affine_coordinates(group, point, x, nil, context) == 1)
            try #require(BN_nnmod(x, x, order, context) == 1)
            #expect(BN_cmp(x, r) == 0, "r of nonce \(index) of \(count)")
            try #require(BN_mod_mul(product, inverse, k, order, context) == 1)
            #expect(BN_is_one(product) == 1, "k⁻¹ of nonce \(index) of \(count)")
        }
        for later in 0..<count {
            for earlier in 0..<later { #expect(BN_cmp(rs[earlier], rs[later]) != 0, "r of \(earlier) and \(later)") }
        }
    }

    /// A batch of no nonces, or one without a group, is refused, and hands nothing back: the
    /// arrays it was given are cleared, whatever they held.
    @Test func aBatchWithoutAGroupIsRefusedAndHandsNothingBack() throws {
        let group = try #require(authlog_p256_group())
        defer { EC_GROUP_free(group) }
        let planted = OpaquePointer(bitPattern: 1)
        var inverses = [OpaquePointer?](repeating: planted, count: 2)
        var rs = inverses
        var ks = inverses
        #expect(authlog_p256_nonces(group, 0, &inverses, &rs, &ks) == 0)
        #expect(authlog_p256_nonces(nil, 2, &inverses, &rs, &ks) == 0)
        #expect(inverses == [nil, nil] && rs == [nil, nil] && ks == [nil, nil])
    }

    /// Every k of a batch is in [1, n − 1], and k is drawn from the whole range: about half of
    /// them have the order's full 256 bits. A nonce drawn a bit short, or from a smaller range,
    /// still verifies and is still distinct (the other tests pass), but such a bias is what
    /// lattice attacks recover an ECDSA key from.
    @Test func theKOfABatchAreDrawnFromTheWholeRange() throws {
        let group = try #require(authlog_p256_group())
        defer { EC_GROUP_free(group) }
        let order = EC_GROUP_get0_order(group)
        let batches = 64
        var fullWidth = 0
        for _ in 0..<batches {
            let count = P256Nonces.batchSize
            var inverses = [OpaquePointer?](repeating: nil, count: count)
            var rs = inverses
            var ks = inverses
            defer { for number in inverses + rs + ks { BN_clear_free(number) } }
            try #require(authlog_p256_nonces(group, Int32(count), &inverses, &rs, &ks) == 1)
            for k in ks {
                let k = try #require(k)
                #expect(BN_is_zero(k) == 0 && BN_cmp(k, order) < 0)
                if BN_num_bits(k) == 256 { fullWidth += 1 }
            }
        }
        // 2,048 draws: the share of 256-bit k is 0.5 with a standard deviation of 0.011.
        let share = Double(fullWidth) / Double(batches * P256Nonces.batchSize)
        #expect((0.4...0.6).contains(share), "\(fullWidth) of \(batches * P256Nonces.batchSize) k have 256 bits")
    }

    /// Threads that fill one pool at once, its capacity no multiple of a batch, fill it to
    /// its capacity and no further: a batch that no longer fits is cut, its rest wiped, and
    /// every nonce the pool keeps signs once and verifies.
    @Test func batchesAddedAtOnceFillThePoolExactly() async throws {
        let nonces = P256Nonces(capacity: 33)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { while nonces.addBatch() == .added {} }
            }
        }
        #expect(nonces.count == 33)
        #expect(nonces.addBatch() == .full)
        let key = try P256Key.generate(nonces: nonces)
        let message = Array("eyJhbGciOiJFUzI1NiJ9.the same claims".utf8)
        let signatures = try (0..<33).map { _ in try key.sign(message) }
        #expect(nonces.signatures.fromPool == 33 && nonces.signatures.withoutPool == 0)
        #expect(signatures.allSatisfy { key.verify($0, of: message) })
        #expect(Set(signatures.map(Self.r)).count == 33)
    }

    /// Polls `condition` until it holds, for up to 10 seconds.
    func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            try #require(ContinuousClock.now < deadline, "condition not met within 10 s")
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
