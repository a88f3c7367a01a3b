import DataProtection
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
    /// The signing secret as the file holds it: never logged, never shown again after `add`.
    package var storedSecret: StoredSecret
    /// Where delivery starts: after this position; `nil`: the log's head when authd first sees it.
    public var startAfter: UInt64?
    public var createdAt: String

    /// How the file holds the secret (`whsec_...`, ``WebhookSignature``).
    package enum StoredSecret: Hashable, Sendable {
        /// Sealed under the data directory's ``FileSealingKey`` for the endpoint's id
        /// (`sealed_secret`, base64): what every file is written with.
        case sealed([UInt8])
        /// In the clear (`secret`): a file from before secrets were sealed, until authd seals
        /// it at its next start (``WebhookStore/sealSecretsInTheClear(sealing:)``).
        case clear(String)
    }

    package init(
        id: String, url: String, events: [String], storedSecret: StoredSecret, startAfter: UInt64?, createdAt: String
    ) {
        self.id = id
        self.url = url
        self.events = events
        self.storedSecret = storedSecret
        self.startAfter = startAfter
        self.createdAt = createdAt
    }

    /// `secret` sealed under `sealing` for the endpoint `id`, as files hold it.
    package static func sealed(_ secret: String, for id: String, under sealing: FileSealingKey)
        throws(DataProtectionError) -> StoredSecret
    {
        .sealed(try sealing.seal(Array(secret.utf8), for: .webhookSecret(id)))
    }

    /// The secret, opened under `sealing` if sealed; ``DataProtectionError/tampered`` when it
    /// does not open (changed, moved from another endpoint, or another directory's).
    public func secret(_ sealing: FileSealingKey) throws(DataProtectionError) -> String {
        switch storedSecret {
        case .clear(let secret): return secret
        case .sealed(let sealed):
            var opened = try sealing.open(sealed, for: .webhookSecret(id))
            defer { opened.withUnsafeMutableBytes { cleanse($0) } }
            return String(decoding: opened, as: UTF8.self)
        }
    }

    /// Why an endpoint's deliveries cannot be signed.
    public enum SigningKeyError: Error, Equatable {
        /// The sealed secret does not open under the key given: changed, moved from another
        /// endpoint, or another directory's.
        case doesNotOpen
        /// It opens, but is not a `whsec_` secret of 24 to 64 bytes.
        case unusable
    }

    /// The bytes deliveries are signed with: the secret opened under `sealing`, then decoded
    /// (``WebhookSignature/secretBytes(_:)``). The one way authd and authctl get them.
    public func signingKey(_ sealing: FileSealingKey) throws(SigningKeyError) -> [UInt8] {
        guard let secret = try? secret(sealing) else { throw .doesNotOpen }
        guard let key = WebhookSignature.secretBytes(secret) else { throw .unusable }
        return key
    }

    enum CodingKeys: String, CodingKey {
        case id, url, events, secret
        case sealedSecret = "sealed_secret"
        case startAfter = "start_after"
        case createdAt = "created_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        url = try container.decode(String.self, forKey: .url)
        events = try container.decode([String].self, forKey: .events)
        startAfter = try container.decodeIfPresent(UInt64.self, forKey: .startAfter)
        createdAt = try container.decode(String.self, forKey: .createdAt)
        if let sealed = try container.decodeIfPresent(String.self, forKey: .sealedSecret) {
            guard let bytes = Data(base64Encoded: sealed) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .sealedSecret, in: container, debugDescription: "not base64")
            }
            storedSecret = .sealed([UInt8](bytes))
        } else {
            storedSecret = .clear(try container.decode(String.self, forKey: .secret))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(url, forKey: .url)
        try container.encode(events, forKey: .events)
        try container.encodeIfPresent(startAfter, forKey: .startAfter)
        try container.encode(createdAt, forKey: .createdAt)
        switch storedSecret {
        case .sealed(let sealed): try container.encode(Data(sealed).base64EncodedString(), forKey: .sealedSecret)
        case .clear(let secret): try container.encode(secret, forKey: .secret)
        }
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
