import COpenSSL
import Dispatch
import Synchronization

/// ECDSA nonces for P-256 signatures, made before the messages they will sign.
///
/// Most of an ES256 signature's work is its nonce: a random k, the point kG and the inverse
/// of k, none of which depends on the key or the message. A pool made ahead of time, by a
/// thread that runs only when no other thread wants the CPU (``runRefiller()``), leaves a
/// signature only its last step (a few multiplications) on the request's path. Under a load
/// that leaves no CPU idle the pool empties and signatures make their own nonce, as without
/// it.
///
/// Rules:
/// - A nonce is handed out once: ``take()`` removes it, and it is wiped and freed after its
///   signature. A nonce used twice gives away the private key, so nothing copies one.
/// - The nonces are as secret as the keys they sign with, and live in this process's memory
///   only, as the keys do.
/// - The signer never waits for the refiller: ``take()`` gives nothing when the pool's lock
///   is held (the refiller, at the lowest priority, may be held off the CPU while holding it).
/// - k is drawn by OpenSSL (`ECDSA_sign_setup`) from its private random generator.
public final class P256Nonces: @unchecked Sendable {
    /// A nonce: k⁻¹ mod n and r = x(kG) mod n, as OpenSSL's BIGNUMs.
    struct Nonce: @unchecked Sendable {
        let inverse: OpaquePointer
        let r: OpaquePointer

        /// Wipes and frees both numbers: after its one signature.
        func destroy() {
            BN_clear_free(inverse)
            BN_clear_free(r)
        }
    }

    private struct State {
        var ready: [Nonce] = []
        var refillerWaits = false
        var stopped = false
    }

    /// The process's pool: P-256 keys take their nonces from it. It holds none until a
    /// refiller runs (authd starts one).
    public static let shared = P256Nonces(capacity: 4_096)

    /// How many nonces the pool holds at most.
    public let capacity: Int
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    /// A key of the curve, for OpenSSL's nonce call (it wants one; the nonce does not depend
    /// on it).
    private let curveKey: OpaquePointer
    private let handedOut = Atomic<Int>(0)
    private let missed = Atomic<Int>(0)

    /// A pool of at most `capacity` nonces, empty until filled.
    public init(capacity: Int) {
        precondition(capacity > 0, "a pool holds at least one nonce")
        self.capacity = capacity
        guard let key = authlog_p256_generated_key() else { fatalError("OpenSSL could not make a P-256 key") }
        curveKey = key
    }

    deinit {
        state.withLock { state in
            for nonce in state.ready { nonce.destroy() }
            state.ready = []
        }
        authlog_ec_key_free(curveKey)
    }

    /// How many nonces are ready.
    public var count: Int { state.withLock { $0.ready.count } }

    /// Signatures made with a nonce from the pool, and signatures that found none ready.
    public var signatures: (fromPool: Int, withoutPool: Int) {
        (handedOut.load(ordering: .relaxed), missed.load(ordering: .relaxed))
    }

    /// A nonce for one signature, or nil when none is ready or the pool is busy. The caller
    /// owns it: ``Nonce/destroy()`` after its signature.
    func take() -> Nonce? {
        var wakeRefiller = false
        let nonce = state.withLockIfAvailable { state -> Nonce? in
            guard let nonce = state.ready.popLast() else { return nil }
            // Wake a sleeping refiller once a quarter is used, not at every signature.
            if state.refillerWaits, state.ready.count <= capacity - max(capacity / 4, 1) {
                state.refillerWaits = false
                wakeRefiller = true
            }
            return nonce
        }
        if wakeRefiller { wake.signal() }
        if let nonce = nonce ?? nil {
            handedOut.add(1, ordering: .relaxed)
            return nonce
        }
        missed.add(1, ordering: .relaxed)
        return nil
    }

    /// Makes one nonce and adds it; false when the pool is full or stopped (nothing made).
    @discardableResult
    public func addOne() -> Bool {
        guard state.withLock({ !$0.stopped && $0.ready.count < capacity }) else { return false }
        var inverse: OpaquePointer?
        var r: OpaquePointer?
        guard authlog_ecdsa_sign_setup(curveKey, &inverse, &r) == 1, let inverse, let r else {
            BN_clear_free(inverse)
            BN_clear_free(r)
            return false
        }
        let nonce = Nonce(inverse: inverse, r: r)
        let kept = state.withLock { state in
            guard !state.stopped, state.ready.count < capacity else { return false }
            state.ready.append(nonce)
            return true
        }
        if !kept { nonce.destroy() }
        return kept
    }

    /// Keeps the pool full until ``stop()``: call it on a thread of its own, one that runs only
    /// when the CPU would otherwise be idle (Linux's `SCHED_IDLE`). Sleeps while the pool is
    /// full, until signatures have used a quarter of it.
    public func runRefiller() {
        while true {
            if addOne() { continue }
            let sleep = state.withLock { state -> Bool? in
                if state.stopped { return nil }
                guard state.ready.count >= capacity else { return false }
                state.refillerWaits = true
                return true
            }
            guard let sleep else { return }
            if sleep { wake.wait() }
        }
    }

    /// Ends ``runRefiller()`` after the nonce it is making; the pool keeps what it holds.
    public func stop() {
        let waiting = state.withLock { state in
            state.stopped = true
            defer { state.refillerWaits = false }
            return state.refillerWaits
        }
        if waiting { wake.signal() }
    }
}
