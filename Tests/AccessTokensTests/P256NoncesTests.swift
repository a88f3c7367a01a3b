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
        while nonces.addOne() == .added {}
        #expect(nonces.count == 100)
        #expect(nonces.addOne() == .full)
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
        while nonces.addOne() == .added {}
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
        #expect(nonces.addOne() == .full)
        let own = try key.sign(Array("after".utf8))
        #expect(nonces.signatures.withoutPool == 1 && key.verify(own, of: Array("after".utf8)))
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
