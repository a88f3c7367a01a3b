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

    public init(checkpoint: UInt64, failingSince: String? = nil, disabledAt: String? = nil, lastError: String? = nil) {
        self.checkpoint = checkpoint
        self.failingSince = failingSince
        self.disabledAt = disabledAt
        self.lastError = lastError
    }

    enum CodingKeys: String, CodingKey {
        case checkpoint
        case failingSince = "failing_since"
        case disabledAt = "disabled_at"
        case lastError = "last_error"
    }
}
