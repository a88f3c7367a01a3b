import AuthService
import Foundation
import Logging
import Synchronization

/// Sends what waits in the outbox (`maildir/new/`) to the SMTP server, on a thread of its own.
///
/// Rules:
/// - A message is removed only after the server accepted it; a crash between the server's
///   250 and the removal sends it again at the next start (at least once, never lost).
/// - A temporary failure (no connection, a 4xx, TLS, or a login refused, 535 included) is
///   retried with a doubling delay, 1 s, 2 s, 4 s ... up to ``maximumDelay``, for
///   ``retryPeriod`` counted from the time the message was queued; then it moves to
///   `failed/` with the last reason.
/// - A permanent failure (any other 5xx) moves it to `failed/` at once.
/// - At start it takes whatever waits (mail queued before a restart); it also looks again
///   every second, so mail written by another process (authctl) goes out too.
/// - Reasons are logged and kept with the failed message only after ``MailFailure/redacted(_:)``.
public final class DeliveryWorker: Sendable {
    public let outbox: MaildirMailer
    let settings: SMTPSettings
    /// The envelope's sender: the bare address of `--mail-from`.
    let sender: String
    public let retryPeriod: TimeInterval
    public let maximumDelay: TimeInterval = 300
    let logger: Logger
    /// Whether a user is erased: their waiting mail is then deleted, not sent.
    let erased: @Sendable (UUID) -> Bool

    private let state = Mutex(State())
    private let condition = NSCondition()
    private let deliveredCount = Atomic<UInt64>(0)
    private let failedAttempts = Atomic<UInt64>(0)

    struct State {
        var stopped = false
        var woken = false
        /// Per waiting message: temporary failures so far and when to try next.
        var retries: [String: (attempts: Int, next: Date)] = [:]
    }

    public init(
        outbox: MaildirMailer, settings: SMTPSettings, sender: String, retryPeriod: TimeInterval, logger: Logger,
        erased: @escaping @Sendable (UUID) -> Bool = { _ in false }
    ) {
        self.erased = erased
        self.outbox = outbox
        self.settings = settings
        self.sender = Self.bareAddress(sender)
        self.retryPeriod = retryPeriod
        self.logger = logger
    }

    /// Messages the server accepted since start; a message is counted before it leaves the outbox.
    public var delivered: UInt64 { deliveredCount.load(ordering: .sequentiallyConsistent) }
    /// Attempts that failed (temporary or permanent) since start.
    public var failedDeliveryAttempts: UInt64 { failedAttempts.load(ordering: .relaxed) }

    /// Starts the thread; it runs until ``stop()``.
    public func start() throws {
        let client = try SMTPClient(settings: settings)
        let thread = Thread { [self] in run(client) }
        thread.name = "authd-mail"
        thread.start()
    }

    /// Wakes the thread now (a message was queued).
    public func wake() {
        condition.lock()
        state.withLock { $0.woken = true }
        condition.signal()
        condition.unlock()
    }

    /// Stops after the message in hand, if any.
    public func stop() {
        state.withLock { $0.stopped = true }
        wake()
    }

    private func run(_ client: SMTPClient) {
        logger.info("mail delivery started", metadata: ["server": "\(settings)"])
        while !state.withLock({ $0.stopped }) {
            var nextLook = Date().addingTimeInterval(1)
            let names = outbox.waitingNames()
            state.withLock { state in
                let present = Set(names)
                state.retries = state.retries.filter { present.contains($0.key) }
            }
            for name in names {
                if state.withLock({ $0.stopped }) { return }
                let now = Date()
                if let retry = state.withLock({ $0.retries[name] }), retry.next > now {
                    nextLook = min(nextLook, retry.next)
                    continue
                }
                deliver(name, with: client)
            }
            condition.lock()
            while !state.withLock({ $0.woken || $0.stopped }) {
                if !condition.wait(until: nextLook) { break }
            }
            state.withLock { $0.woken = false }
            condition.unlock()
        }
    }

    private func deliver(_ name: String, with client: SMTPClient) {
        guard let message = outbox.outgoing(name) else {
            // Gone (purged), or unreadable without a recipient: nothing can be sent.
            if FileManager.default.fileExists(atPath: outbox.directory + "/new/" + name) {
                fail(name, "the message has no To header")
            }
            return
        }
        // Queued after its user's erase purged the outbox (a request decided before the erase
        // committed), or the erase ran on another node: never sent.
        if let user = message.user, erased(user) {
            outbox.delivered(name)
            state.withLock { _ = $0.retries.removeValue(forKey: name) }
            logger.info("mail of an erased user deleted, not sent", metadata: ["message": "\(name)"])
            return
        }
        switch client.send(from: sender, to: [message.recipient], message: message.bytes) {
        case .accepted:
            // Counted before the file goes: whoever sees the outbox empty sees the count too.
            deliveredCount.add(1, ordering: .sequentiallyConsistent)
            outbox.delivered(name)
            state.withLock { _ = $0.retries.removeValue(forKey: name) }
            logger.debug("mail delivered", metadata: ["message": "\(name)"])
        case .permanentFailure(let reason):
            failedAttempts.add(1, ordering: .relaxed)
            fail(name, "refused: \(reason)")
        case .temporaryFailure(let reason):
            failedAttempts.add(1, ordering: .relaxed)
            let queued = MaildirMailer.queuedAt(name) ?? Date()
            let attempts = (state.withLock { $0.retries[name]?.attempts } ?? 0) + 1
            if Date().timeIntervalSince(queued) >= retryPeriod {
                fail(name, "gave up after \(attempts) attempts over \(Int(retryPeriod)) s: \(reason)")
                return
            }
            let delay = min(maximumDelay, pow(2, Double(attempts - 1)))
            state.withLock { $0.retries[name] = (attempts, Date().addingTimeInterval(delay)) }
            logger.warning(
                "mail delivery failed; will retry",
                metadata: ["message": "\(name)", "reason": "\(reason)", "retry_in_s": "\(Int(delay))"])
        }
    }

    private func fail(_ name: String, _ reason: String) {
        let reason = MailFailure.redacted(reason)
        do {
            try outbox.markFailed(name, reason: reason)
            logger.error("mail delivery given up", metadata: ["message": "\(name)", "reason": "\(reason)"])
        } catch {
            logger.error("a failed message could not be moved", metadata: ["message": "\(name)", "error": "\(error)"])
        }
        state.withLock { _ = $0.retries.removeValue(forKey: name) }
    }

    /// `no-reply@example.com` out of `Authlog <no-reply@example.com>` (or the text as it is).
    static func bareAddress(_ text: String) -> String {
        guard let open = text.lastIndex(of: "<"), let close = text.lastIndex(of: ">"), open < close else {
            return text.trimmingCharacters(in: .whitespaces)
        }
        return String(text[text.index(after: open)..<close])
    }
}
