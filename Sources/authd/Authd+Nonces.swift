import AuthHTTP
import EventLog
import Foundation
import Signatures

#if canImport(Glibc)
    import Glibc
#endif

extension P256Nonces {
    /// Starts ``runRefiller()`` on a thread of its own (named `p256-nonces`) that Linux runs
    /// only when no other thread wants a CPU: the nonces are made in time that would otherwise
    /// go idle, never in a request's. Where Linux refuses that policy, the thread runs at nice
    /// 19. Returns once the thread is named and under its policy. Stop it with ``stop()``.
    func startRefillingWhenIdle() {
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            nameCurrentThread("p256-nonces")
            runOnlyWhenIdle()
            ready.signal()
            runRefiller()
        }
        thread.start()
        ready.wait()
    }
}

extension ServerGauges {
    /// The pool's signatures and the nonces it holds, for /metrics.
    mutating func addNonces(_ nonces: P256Nonces) {
        let signatures = nonces.signatures
        signaturesWithNonceMadeAhead = signatures.fromPool
        signaturesWithNonceMadeThen = signatures.withoutPool
        noncesReady = nonces.count
    }
}

/// Puts the calling thread under Linux's `SCHED_IDLE` policy, or failing that at nice 19.
private func runOnlyWhenIdle() {
    #if os(Linux)
        // SCHED_IDLE (5 in linux/sched.h) is not in Swift's Glibc module. Lowering a thread's
        // own policy needs no privilege.
        var parameters = sched_param()
        if sched_setscheduler(0, 5, &parameters) == 0 { return }
        // On Linux a priority is a thread's, and 0 names the calling thread.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
    #endif
}
