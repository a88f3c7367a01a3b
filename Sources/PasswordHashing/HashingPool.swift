import Dispatch
import Foundation
import Synchronization

/// A fixed set of threads for password hashing, so that 100 parallel logins run at most
/// `threads` hashes (and hold at most that many Argon2 memory blocks) at once, and never
/// on an event loop or a cooperative-pool thread.
public final class HashingPool: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var stopping = false
    }

    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    public let threads: Int

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.threads = max(1, threads)
        for index in 0..<self.threads {
            let thread = Thread { [self] in work() }
            thread.name = "authlog.hashing.\(index)"
            thread.start()
        }
    }

    /// Jobs waiting for a thread (for the KDF queue-depth metric).
    public var queueDepth: Int { state.withLock { $0.jobs.count } }

    /// Runs `body` on a pool thread and returns its result.
    public func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = state.withLock { state in
                guard !state.stopping else { return false }
                state.jobs.append { continuation.resume(with: Swift.Result { try body() }) }
                return true
            }
            if accepted {
                available.signal()
            } else {
                continuation.resume(throwing: PasswordHashError.failed("the hashing pool is stopped"))
            }
        }
    }

    /// Lets queued jobs finish, then ends the threads.
    public func stop() {
        state.withLock { $0.stopping = true }
        for _ in 0..<threads { available.signal() }
    }

    private func work() {
        while true {
            available.wait()
            let job = state.withLock { state -> (@Sendable () -> Void)? in
                state.jobs.isEmpty ? nil : state.jobs.removeFirst()
            }
            if let job {
                job()
            } else if state.withLock({ $0.stopping }) {
                return
            }
        }
    }
}
