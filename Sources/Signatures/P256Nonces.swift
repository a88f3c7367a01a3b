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
/// it. The pool makes its nonces ``batchSize`` at a time, which halves their work: the
/// batch's points are made affine with one inversion and its k inverted with one
/// (`authlog_p256_nonces`, COpenSSL), where a nonce made alone takes two of its own.
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
/// - k is drawn from OpenSSL's private random generator, as `ECDSA_sign_setup` draws it,
///   without the message: unlike a nonce made at signing, it is not hedged. A process whose
///   memory is copied and run twice (a virtual machine's snapshot restored twice) would sign
///   different messages with the same nonces and give its key away: such a process must not
///   fill a pool (authd: `--es256-nonces-ahead off`).
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

    /// How many nonces ``addBatch()`` makes at most at once: enough that the batch's two
    /// inversions cost a small part of a nonce's other work, few enough that a batch takes a
    /// fraction of a millisecond (64: about 0.6 ms; docs/performance.md has 32, 64 and 128
    /// side by side).
    public static let batchSize = 64

    /// What ``addBatch()`` did.
    public enum Outcome: Sendable {
        case added
        /// Nothing made: the pool is full, or stopped.
        case full
        /// OpenSSL made no nonce (or, at the pool's start, no group to make them with).
        case failed
    }

    /// The process's pool: P-256 keys take their nonces from it. It holds none until a
    /// refiller runs (authd starts one).
    public static let shared = P256Nonces(capacity: 1_024)

    /// How many nonces the pool holds at most.
    public let capacity: Int
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    /// The curve's group, for the nonces' arithmetic; nil if OpenSSL could not make it: the
    /// pool then stays empty.
    private let group: OpaquePointer?
    private let ready = Atomic<Int>(0)
    private let handedOut = Atomic<Int>(0)
    private let missed = Atomic<Int>(0)

    /// A pool of at most `capacity` nonces, empty until filled.
    public init(capacity: Int) {
        precondition(capacity > 0, "a pool holds at least one nonce")
        self.capacity = capacity
        group = authlog_p256_group()
    }

    deinit {
        wipe()
        EC_GROUP_free(group)
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

    /// Makes nonces and adds them, as many as the pool has room for up to ``batchSize``,
    /// unless the pool is full or stopped. Those that no longer fit when the batch is made
    /// (another caller filled the pool meanwhile) are wiped.
    @discardableResult
    public func addBatch() -> Outcome {
        let room = state.withLock { $0.stopped ? 0 : capacity - $0.held.count }
        guard room > 0 else { return .full }
        guard let group else { return .failed }
        let count = min(room, Self.batchSize)
        var inverses = [OpaquePointer?](repeating: nil, count: count)
        var rs = [OpaquePointer?](repeating: nil, count: count)
        guard authlog_p256_nonces(group, Int32(count), &inverses, &rs, nil) == 1 else {
            ERR_clear_error()
            return .failed
        }
        // Every one is set when the call succeeds.
        var made = zip(inverses, rs).map { Held(inverse: $0!, r: $1!) }
        let kept = state.withLock { state in
            guard !state.stopped else { return 0 }
            let kept = min(made.count, capacity - state.held.count)
            state.held.append(contentsOf: made.prefix(kept))
            ready.store(state.held.count, ordering: .relaxed)
            return kept
        }
        made.removeFirst(kept)
        for held in made { _ = Nonce(inverse: held.inverse, r: held.r) }  // wiped and freed at once
        return kept > 0 ? .added : .full
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
            let outcome = addBatch()
            if outcome == .added { continue }
            let next = state.withLock { state -> Next in
                if state.stopped { return .end }
                // Signatures took some since addBatch found the pool full: make more at once.
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

    /// What the refiller does after a batch it did not add.
    private enum Next { case makeMore, sleep, end }

    /// Ends ``runRefiller()`` after the batch it is making, and wipes the nonces left: the
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
