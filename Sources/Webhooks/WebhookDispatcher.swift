import AsyncHTTPClient
import AuthDomain
import DataProtection
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Delivers the log's events to every webhook endpoint in `DATA/webhooks/`, from the feed
/// authd serves (public fields only).
///
/// Rules:
/// - Endpoints added or removed by `authctl webhooks` take effect within
///   ``Configuration/reloadInterval``, without a restart.
/// - Each endpoint gets its events one at a time, in log order (so in order per user), each
///   posted until the receiver answers 2xx: at least once. After each acknowledgement the
///   endpoint's checkpoint (``WebhookState``) is written durably, so a restart repeats at most
///   the one event in flight and loses none.
/// - A failure (no answer's status within ``Configuration/requestTimeout``, a connection error, a
///   status other than 2xx, a redirect among them, which is never followed) is retried after ``Configuration/firstRetry``, doubling up to
///   ``Configuration/longestRetry``. An endpoint failing without a success for
///   ``Configuration/disableAfter`` is disabled: marked in its state, sent nothing more.
/// - The answer's body is read (up to 64 KiB, and dropped) only until the same timeout: a
///   receiver that sends its status and then holds the body back does not hold the delivery;
///   its status decides.
/// - Signed by ``WebhookSignature`` with the endpoint's secret; the secret and bodies are never logged.
public final class WebhookDispatcher: Sendable {
    public struct Configuration: Sendable {
        public var reloadInterval = Duration.seconds(1)
        /// How often an endpoint that is up to date looks at the log again.
        public var pollInterval = Duration.milliseconds(100)
        public var requestTimeout = Duration.seconds(10)
        public var firstRetry = Duration.seconds(1)
        public var longestRetry = Duration.seconds(300)
        /// Three days, as Standard Webhooks' reference services retry for.
        public var disableAfter = Duration.seconds(3 * 24 * 3_600)
        public init() {}
    }

    let store: WebhookStore
    /// Opens the endpoints' sealed secrets.
    let sealing: FileSealingKey
    let feed: any EventFeed
    let configuration: Configuration
    let logger: Logger
    package let client: HTTPClient

    public init(
        store: WebhookStore, sealing: FileSealingKey, feed: any EventFeed, configuration: Configuration,
        logger: Logger
    ) {
        self.store = store
        self.sealing = sealing
        self.feed = feed
        self.configuration = configuration
        self.logger = logger
        self.client = Self.makeClient()
    }

    /// The HTTP client deliveries go through. It follows no redirect: a 3xx is a failure, as
    /// Standard Webhooks says, so an event is never taken as delivered because a GET it was
    /// turned into, or a POST to another address (one inside the network authd runs in), was
    /// answered 2xx.
    public static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Runs until the task is cancelled, then shuts the HTTP client down.
    public func run() async {
        var running: [String: (endpoint: WebhookEndpoint, task: Task<Void, Never>)] = [:]
        while !Task.isCancelled {
            do {
                let endpoints = try store.endpoints()
                let ids = Set(endpoints.map(\.id))
                for (id, entry) in running where !ids.contains(id) || entry.task.isCancelled {
                    entry.task.cancel()
                    running[id] = nil
                }
                for endpoint in endpoints where running[endpoint.id] == nil {
                    running[endpoint.id] = (endpoint, Task { await self.deliver(to: endpoint) })
                }
            } catch {
                logger.error("cannot read the webhook endpoints", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: configuration.reloadInterval)
        }
        for entry in running.values { entry.task.cancel() }
        for entry in running.values { await entry.task.value }
        try? await client.shutdown()
    }

    /// Delivers to one endpoint until it is removed (cancelled) or disabled.
    func deliver(to endpoint: WebhookEndpoint) async {
        let key: [UInt8]
        do {
            key = try endpoint.signingKey(sealing)
        } catch .doesNotOpen {
            logger.error(
                "webhook endpoint's secret does not open with this data directory's key (changed, or another directory's); not delivering",
                metadata: ["endpoint": "\(endpoint.id)"])
            return
        } catch {
            logger.error(
                "webhook endpoint has an unusable secret; not delivering", metadata: ["endpoint": "\(endpoint.id)"])
            return
        }
        var state: WebhookState
        do {
            state = try startingState(of: endpoint)
        } catch WebhookStore.StoreError.noSuchEndpoint {
            return  // removed as its delivery started
        } catch {
            logger.error(
                "cannot read a webhook's state", metadata: ["endpoint": "\(endpoint.id)", "error": "\(error)"])
            return
        }
        while !Task.isCancelled, state.disabledAt == nil {
            do {
                let events = try nextEvents(&state, of: endpoint)
                if events.isEmpty {
                    try? await Task.sleep(for: configuration.pollInterval)
                    continue
                }
                for event in events {
                    if endpoint.accepts(event.type) {
                        guard try await post(event, to: endpoint, key: key, state: &state) else { return }
                    }
                    Self.advance(&state, past: event)
                    if endpoint.accepts(event.type) { try store.save(state, of: endpoint.id) }
                }
                try store.save(state, of: endpoint.id)
            } catch is CancellationError {
                return
            } catch WebhookStore.StoreError.noSuchEndpoint where (try? store.endpoint(endpoint.id)) == nil {
                return  // removed meanwhile (its task is cancelled at the next reload); else retried below
            } catch {
                logger.error("webhook delivery stopped", metadata: ["endpoint": "\(endpoint.id)", "error": "\(error)"])
                try? await Task.sleep(for: configuration.firstRetry)
            }
        }
    }

    /// Records that delivery is past `event` (sent, or not for this endpoint): the checkpoint,
    /// and the anchors when the event's chain hash is known (without it, what was kept no
    /// longer names the checkpoint, and is dropped).
    package static func advance(_ state: inout WebhookState, past event: FeedEvent) {
        if let hash = event.chainHash {
            state.pass(event.position, hash: hash.description)
        } else {
            state.checkpoint = event.position
            state.anchors = nil
        }
    }

    /// The endpoint's saved state, or a new one starting after its `--after` position or the
    /// log's head (saved). A state written before states kept where delivery started gets its
    /// checkpoint as its start (saved): it never goes back past where it stands now, as its
    /// anchors cover only what comes from here.
    package func startingState(of endpoint: WebhookEndpoint) throws -> WebhookState {
        if var saved = try store.state(of: endpoint.id) {
            if saved.start == nil {
                saved.start = max(saved.checkpoint, endpoint.startAfter ?? 0)
                try store.save(saved, of: endpoint.id)
            }
            return saved
        }
        let start = try endpoint.startAfter ?? feed.head()
        let state = WebhookState(checkpoint: start, start: start)
        try store.save(state, of: endpoint.id)
        return state
    }

    /// The events after the checkpoint, at most 100. When the checkpoint's event is known
    /// by its hash (``WebhookState/anchors``), it is read in the same read as the events after
    /// it, so the two come from one history: when the log no longer holds it (replaced behind
    /// the endpoint: restored from an older backup, then written again), delivery goes back
    /// to the newest event passed that the log still holds, or to where it started, it is
    /// logged, and nothing is returned this time. The new history's events are then sent, and
    /// the ones before them since that event again (at least once), under the same ids;
    /// events the two histories hold at one position have different ids (``messageID(for:)``).
    package func nextEvents(_ state: inout WebhookState, of endpoint: WebhookEndpoint) throws -> [FeedEvent] {
        guard let newest = state.anchors?.first, newest.position == state.checkpoint, newest.position > 0 else {
            return try feed.events(after: state.checkpoint, limit: 100, personal: false)
        }
        let read = try feed.events(after: newest.position - 1, limit: 101, personal: false)
        if let first = read.first, newest.names(first) {
            return Array(read.dropFirst())
        }
        let anchors = state.anchors ?? []
        let floor = state.start ?? state.checkpoint
        var target = floor
        for anchor in anchors.dropFirst() where anchor.position >= floor {
            if try holds(anchor) {
                target = anchor.position
                break
            }
        }
        state.checkpoint = target
        state.anchors = anchors.filter { $0.position <= target }
        try store.save(state, of: endpoint.id)
        logger.error(
            "the log no longer holds the events this webhook endpoint was sent: sending again from where it still does",
            metadata: ["endpoint": "\(endpoint.id)", "was_at": "\(newest.position)", "after": "\(target)"])
        return []
    }

    /// Whether the log holds the event `anchor` names (its position, with its chain hash).
    func holds(_ anchor: WebhookState.Anchor) throws -> Bool {
        guard anchor.position > 0 else { return true }
        return try feed.events(after: anchor.position - 1, limit: 1, personal: false).first.map(anchor.names) ?? false
    }

    /// The message's `webhook-id`: the event's position and the start of its chain hash, the
    /// same on every retry, and another for the event another history holds at that position.
    package static func messageID(for event: FeedEvent) -> String {
        guard let hash = event.chainHash else { return "msg_\(event.position)" }
        return "msg_\(event.position)_\(hash.description.prefix(16))"
    }

    /// Posts one event until it is acknowledged (true), the endpoint is disabled (false), or
    /// the task is cancelled (throws).
    func post(_ event: FeedEvent, to endpoint: WebhookEndpoint, key: [UInt8], state: inout WebhookState)
        async throws -> Bool
    {
        let message = try Self.message(for: event)
        var pause = configuration.firstRetry
        while true {
            try Task.checkCancellation()
            let outcome = await send(message, id: Self.messageID(for: event), to: endpoint.url, key: key)
            if outcome == nil {
                if state.failingSince != nil || state.lastError != nil {
                    state.failingSince = nil
                    state.lastError = nil
                    try store.save(state, of: endpoint.id)
                }
                return true
            }
            let now = Date()
            let since = state.failingSince.flatMap { ISO8601DateFormatter().date(from: $0) } ?? now
            state.failingSince = ISO8601DateFormatter().string(from: since)
            state.lastError = outcome
            let failingFor = now.timeIntervalSince(since)
            if failingFor >= Double(configuration.disableAfter.components.seconds) {
                state.disabledAt = ISO8601DateFormatter().string(from: now)
                try store.save(state, of: endpoint.id)
                logger.warning(
                    "webhook endpoint disabled: failing too long",
                    metadata: ["endpoint": "\(endpoint.id)", "failing_since": "\(state.failingSince ?? "")"])
                return false
            }
            try store.save(state, of: endpoint.id)
            logger.notice(
                "webhook delivery failed; retrying",
                metadata: ["endpoint": "\(endpoint.id)", "position": "\(event.position)", "error": "\(outcome ?? "")"])
            try await Task.sleep(for: pause)
            pause = min(pause * 2, configuration.longestRetry)
        }
    }

    /// The Standard Webhooks body: type, timestamp and the feed's event as data.
    static func message(for event: FeedEvent) throws -> [UInt8] {
        Array("{\"data\":".utf8) + event.jsonBytes()
            + Array(",\"timestamp\":\"\(event.recordedAt.description)\",\"type\":\"\(event.type)\"}".utf8)
    }

    /// Posts one signed message; `nil` when the receiver answered 2xx, else what went wrong.
    func send(_ body: [UInt8], id: String, to url: String, key: [UInt8]) async -> String? {
        await Self.send(body, id: id, to: url, key: key, client: client, timeout: configuration.requestTimeout)
    }

    /// Posts one signed message with `client` (also what `authctl webhooks test` sends).
    public static func send(
        _ body: [UInt8], id: String, to url: String, key: [UInt8], client: HTTPClient, timeout: Duration
    ) async -> String? {
        let timestamp = Int64(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "authlog-webhooks")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(
            name: "webhook-signature", value: WebhookSignature.sign(id: id, timestamp: timestamp, body: body, key: key))
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let deadline = ContinuousClock.now + timeout
            let response = try await client.execute(request, timeout: TimeAmount(timeout))
            await drain(response.body, until: deadline)
            return (200..<300).contains(Int(response.status.code)) ? nil : "HTTP \(response.status.code)"
        } catch {
            return "\(type(of: error))"
        }
    }

    /// Reads and drops up to 64 KiB of an answer's body, giving up at `deadline`: the
    /// request's timeout ends when the status and headers arrive, so a receiver that sends
    /// them and then holds its body back (or trickles it) would otherwise hold the delivery,
    /// and the endpoint's retries and disabling, for as long as it likes. The answer's status
    /// decides the delivery; the body is read only so that the connection can be used again.
    static func drain(_ body: HTTPClientResponse.Body, until deadline: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = try? await body.collect(upTo: 64 * 1024) }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            group.cancelAll()
        }
    }
}

extension WebhookState.Anchor {
    /// Whether `event` is the event this anchor names: at its position, with its chain hash.
    func names(_ event: FeedEvent) -> Bool {
        event.position == position && event.chainHash?.description == hash
    }
}
