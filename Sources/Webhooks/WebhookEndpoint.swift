import Foundation

/// A receiver of the log's events: where they are posted, which types, and the secret that
/// signs them. Written by `authctl webhooks add`, read by authd.
public struct WebhookEndpoint: Codable, Hashable, Sendable {
    /// `ep_` and 24 hexadecimal digits.
    public var id: String
    /// An http or https URL.
    public var url: String
    /// Event types posted (docs/events.md); `*` for every type.
    public var events: [String]
    /// `whsec_...` (``WebhookSignature``): never logged, never shown again after `add`.
    public var secret: String
    /// Where delivery starts: after this position; `nil`: the log's head when authd first sees it.
    public var startAfter: UInt64?
    public var createdAt: String

    public init(id: String, url: String, events: [String], secret: String, startAfter: UInt64?, createdAt: String) {
        self.id = id
        self.url = url
        self.events = events
        self.secret = secret
        self.startAfter = startAfter
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, url, events, secret
        case startAfter = "start_after"
        case createdAt = "created_at"
    }

    /// Whether events of `type` go to this endpoint.
    public func accepts(_ type: String) -> Bool { events.contains("*") || events.contains(type) }
}

/// How delivery to one endpoint stands: written by authd after each acknowledged delivery and
/// each change of health; read by `authctl webhooks list`.
public struct WebhookState: Codable, Hashable, Sendable {
    /// Every event at or before this position was acknowledged (or is not for this endpoint).
    public var checkpoint: UInt64
    /// Since when deliveries have failed without a success (RFC 3339), if they do.
    public var failingSince: String?
    /// When the endpoint was disabled for failing too long (RFC 3339); nothing is sent after.
    public var disabledAt: String?
    /// The last failure: an HTTP status or a connection error, never a body or a header.
    public var lastError: String?
    /// Where delivery started (the first checkpoint): never gone back past.
    public var start: UInt64?
    /// Events passed (sent, or not for this endpoint) with their chain hashes, to go back to
    /// when the log is replaced behind the endpoint: for each k, the newest position passed
    /// that is a multiple of 2^k (the checkpoint's event among them), so at most 64, newest
    /// first. State written before these were kept has none.
    public var anchors: [Anchor]?

    /// An event passed: its position and its chain hash (64 hex digits).
    public struct Anchor: Codable, Hashable, Sendable {
        public var position: UInt64
        public var hash: String

        public init(position: UInt64, hash: String) {
            self.position = position
            self.hash = hash
        }
    }

    public init(
        checkpoint: UInt64, failingSince: String? = nil, disabledAt: String? = nil, lastError: String? = nil,
        start: UInt64? = nil, anchors: [Anchor]? = nil
    ) {
        self.checkpoint = checkpoint
        self.failingSince = failingSince
        self.disabledAt = disabledAt
        self.lastError = lastError
        self.start = start
        self.anchors = anchors
    }

    /// Records that delivery passed the event at `position` with `hash` (the new checkpoint).
    public mutating func pass(_ position: UInt64, hash: String) {
        checkpoint = position
        var kept = [Anchor(position: position, hash: hash)]
        // The newest multiple of each power of two: the new position takes the places of the
        // powers it is a multiple of; an older anchor keeps a power it alone is a multiple of.
        let replaced = position == 0 ? 64 : position.trailingZeroBitCount
        for anchor in anchors ?? [] where anchor.position < position {
            let powers = anchor.position == 0 ? 64 : anchor.position.trailingZeroBitCount
            if powers > replaced { kept.append(anchor) }
        }
        anchors = kept
    }

    enum CodingKeys: String, CodingKey {
        case checkpoint
        case failingSince = "failing_since"
        case disabledAt = "disabled_at"
        case lastError = "last_error"
        case start
        case anchors
    }
}
