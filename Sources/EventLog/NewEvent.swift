/// Who caused an event and which request it belongs to.
public struct EventMetadata: Hashable, Sendable {
    /// A user id, `system`, `anonymous` or `credential:ID`. At most 255 bytes of UTF-8.
    public var actor: String
    /// Ties together the events of one request. At most 255 bytes of UTF-8.
    public var correlationID: String

    public init(actor: String, correlationID: String) {
        self.actor = actor
        self.correlationID = correlationID
    }
}

/// An event to append. The log assigns its position, stream version and recording time.
public struct NewEvent: Hashable, Sendable {
    /// The event's name, e.g. `UserRegistered`: 1 to 255 bytes of UTF-8.
    public var type: String
    /// The version of `payload`'s schema for this `type`.
    public var schemaVersion: UInt16
    public var metadata: EventMetadata
    /// Opaque bytes; the log never looks inside. At most ``NewEvent/maximumPayloadSize``.
    public var payload: [UInt8]

    /// The documented limit on one event's payload: 64 KiB.
    public static let maximumPayloadSize = 64 * 1024
    /// The most events one append may carry.
    public static let maximumEventsPerAppend = 1_000

    public init(type: String, schemaVersion: UInt16 = 1, metadata: EventMetadata, payload: [UInt8]) {
        self.type = type
        self.schemaVersion = schemaVersion
        self.metadata = metadata
        self.payload = payload
    }

    /// Checks the limits above; throws ``EventLogError`` naming the first one broken.
    public func validate() throws(EventLogError) {
        if type.utf8.isEmpty || type.utf8.count > 255 {
            throw .invalidEvent("event type must be 1 to 255 bytes of UTF-8, got \(type.utf8.count)")
        }
        if metadata.actor.utf8.count > 255 {
            throw .invalidEvent("actor must be at most 255 bytes of UTF-8, got \(metadata.actor.utf8.count)")
        }
        if metadata.correlationID.utf8.count > 255 {
            throw .invalidEvent(
                "correlation id must be at most 255 bytes of UTF-8, got \(metadata.correlationID.utf8.count)")
        }
        if payload.count > Self.maximumPayloadSize {
            throw .payloadTooLarge(size: payload.count, limit: Self.maximumPayloadSize)
        }
    }
}
