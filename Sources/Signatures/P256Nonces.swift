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
/// - A nonce is handed out once: ``take()`` removes it and hands it over as a value that
///   cannot be copied, wiped and freed when its one signature is done. A nonce used twice
///   gives away the private key.
/// - The nonces are as secret as the keys they sign with, and live in this process's memory
///   only, as the keys do; ``stop()`` wipes those left.
/// - Nothing on a request's path waits for the refiller: ``take()`` gives nothing when the
///   pool's lock is held (the refiller, at the lowest priority, may be held off the CPU while
///   holding it), and ``count`` reads a counter, not the lock.
/// - k is drawn by OpenSSL (`ECDSA_sign_setup`) from its private random generator, without
///   the message: unlike a nonce made at signing, it is not hedged. A process whose memory is
///   copied and run twice (a virtual machine's snapshot restored twice) would sign different
///   messages with the same nonces and give its key away: such a process must not fill a
///   pool (authd: `--es256-nonces-ahead off`).
public final class P256Nonces: @unchecked Sendable {
    /// A nonce for one signature: k⁻¹ mod n and r = x(kG) mod n, as OpenSSL's BIGNUMs. It
    /// cannot be copied; both numbers are wiped and freed when it ends.
    struct Nonce: ~Copyable {
        let inverse: OpaquePointer
        let r: OpaquePointer

        deinit {
            BN_clear_free(inverse)
            BN_clear_free(r)
        }

        /// The `ECDSA_SIG` of a SHA-256 `digest` made with `key` and this nonce; nil when
        /// OpenSSL wants another nonce or fails. Borrowing: the nonce lives until OpenSSL has
        /// returned (a value consumed may end right after its last use, before such a call).
        borrowing func sign(digest: [UInt8], key: OpaquePointer) -> OpaquePointer? {
            authlog_ecdsa_sign_with_nonce(digest, Int32(digest.count), inverse, r, key)
        }
    }

    /// A nonce while the pool holds it: the pool frees it or hands it out as a ``Nonce``.
    private struct Held: @unchecked Sendable {
        let inverse: OpaquePointer
        let r: OpaquePointer
    }

    private struct State {
        var held: [Held] = []
        var refillerRuns = false
        var refillerWaits = false
        var stopped = false
    }

    /// What ``addOne()`` did.
    public enum Outcome: Sendable {
        case added
        /// Nothing made: the pool is full, or stopped.
        case full
        /// OpenSSL made no nonce (or, at the pool's start, no key to make them with).
        case failed
    }

    /// The process's pool: P-256 keys take their nonces from it. It holds none until a
    /// refiller runs (authd starts one).
    public static let shared = P256Nonces(capacity: 1_024)

    /// How many nonces the pool holds at most.
    public let capacity: Int
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    /// A key of the curve, for OpenSSL's nonce call (it wants one; the nonce does not depend
    /// on it); nil if OpenSSL could not make one: the pool then stays empty.
    private let curveKey: OpaquePointer?
    private let ready = Atomic<Int>(0)
    private let handedOut = Atomic<Int>(0)
    private let missed = Atomic<Int>(0)

    /// A pool of at most `capacity` nonces, empty until filled.
    public init(capacity: Int) {
        precondition(capacity > 0, "a pool holds at least one nonce")
        self.capacity = capacity
        curveKey = authlog_p256_generated_key()
    }

    deinit {
        wipe()
        if let curveKey { authlog_ec_key_free(curveKey) }
    }

    /// How many nonces are ready (read without the pool's lock).
    public var count: Int { ready.load(ordering: .relaxed) }

    /// Signatures made with a nonce from the pool, and signatures that found none ready.
    public var signatures: (fromPool: Int, withoutPool: Int) {
        (handedOut.load(ordering: .relaxed), missed.load(ordering: .relaxed))
    }

    /// A nonce for one signature, or nil when none is ready or the pool is busy.
    func take() -> Nonce? {
        var wakeRefiller = false
        let held = state.withLockIfAvailable { state -> Held? in
            guard let held = state.held.popLast() else { return nil }
            ready.store(state.held.count, ordering: .relaxed)
            // Wake a sleeping refiller once a quarter is used, not at every signature.
            if state.refillerWaits, state.held.count <= capacity - max(capacity / 4, 1) {
                state.refillerWaits = false
                wakeRefiller = true
            }
            return held
        }
        if wakeRefiller { wake.signal() }
        guard let held = held ?? nil else {
            missed.add(1, ordering: .relaxed)
            return nil
        }
        handedOut.add(1, ordering: .relaxed)
        return Nonce(inverse: held.inverse, r: held.r)
    }

    /// Makes one nonce and adds it, unless the pool is full or stopped.
    @discardableResult
    public func addOne() -> Outcome {
        guard state.withLock({ !$0.stopped && $0.held.count < capacity }) else { return .full }
        guard let curveKey else { return .failed }
        var inverse: OpaquePointer?
        var r: OpaquePointer?
        guard authlog_ecdsa_sign_setup(curveKey, &inverse, &r) == 1, let inverse, let r else {
            BN_clear_free(inverse)
            BN_clear_free(r)
            ERR_clear_error()
            return .failed
        }
        let kept = state.withLock { state in
            guard !state.stopped, state.held.count < capacity else { return false }
            state.held.append(Held(inverse: inverse, r: r))
            ready.store(state.held.count, ordering: .relaxed)
            return true
        }
        if !kept { _ = Nonce(inverse: inverse, r: r) }  // wiped and freed at once
        return kept ? .added : .full
    }

    /// Keeps the pool full until ``stop()``: call it once, on a thread of its own, one that
    /// runs only when the CPU would otherwise be idle (Linux's `SCHED_IDLE`). Sleeps while the
    /// pool is full, until signatures have used a quarter of it; after OpenSSL fails to make a
    /// nonce, for a second.
    public func runRefiller() {
        let first = state.withLock { state in
            defer { state.refillerRuns = true }
            return !state.refillerRuns
        }
        precondition(first, "a pool has one refiller")
        while true {
            let outcome = addOne()
            if outcome == .added { continue }
            let next = state.withLock { state -> Next in
                if state.stopped { return .end }
                // Signatures took some since addOne found the pool full: make more at once.
                guard outcome == .failed || state.held.count >= capacity else { return .makeMore }
                state.refillerWaits = true
                return .sleep
            }
            if next == .end { return }
            if next == .makeMore { continue }
            _ = wake.wait(timeout: outcome == .failed ? .now() + 1 : .distantFuture)
            // Woken, or the second after a failure passed: no signal is owed any more.
            state.withLock { $0.refillerWaits = false }
        }
    }

    /// What the refiller does after a nonce it did not add.
    private enum Next { case makeMore, sleep, end }

    /// Ends ``runRefiller()`` after the nonce it is making, and wipes the nonces left: the
    /// signatures after it make their own.
    public func stop() {
        let waiting = state.withLock { state in
            state.stopped = true
            defer { state.refillerWaits = false }
            return state.refillerWaits
        }
        if waiting { wake.signal() }
        wipe()
    }

    private func wipe() {
        let left = state.withLock { state in
            defer {
                state.held = []
                ready.store(0, ordering: .relaxed)
            }
            return state.held
        }
        for held in left { _ = Nonce(inverse: held.inverse, r: held.r) }
    }
}
