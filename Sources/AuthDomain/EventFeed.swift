import EventLog
import Foundation

/// The log as a feed: every user event in log order, with its public fields and, for a reader
/// allowed to see them, its personal ones. The port a read side (the log with the data keys)
/// serves, so that the HTTP layer depends on no storage.
///
/// Rules every implementation keeps:
/// - ``events(after:limit:personal:)`` returns the events at positions after `after`, in log
///   order, dense, at most `limit` (clamped to 1...1,000) of them; fewer only at the head.
/// - Personal fields are opened only when `personal` is true, and never for a user whose data
///   key is gone (an erased user): their events come without ``FeedEvent/personal``.
/// - Secrets never appear: no password hash, no token hash, in either part.
public protocol EventFeed: Sendable {
    /// The position of the last event in the log the feed reads; 0 for an empty log.
    func head() throws -> UInt64
    func events(after position: UInt64, limit: Int, personal: Bool) throws -> [FeedEvent]
}

/// How much of the feed a reader sees (``ReadRules/feedAccess(role:)``).
public enum FeedAccess: Hashable, Sendable {
    /// Envelopes and public fields.
    case publicFields
    /// Envelopes, public fields and the personal fields of users not erased.
    case personalFields

    public var includesPersonal: Bool { self == .personalFields }
}

/// One event of the feed.
public struct FeedEvent: Hashable, Sendable {
    public var position: UInt64
    /// The user's id (the stream).
    public var stream: UUID
    public var streamVersion: UInt64
    public var type: String
    public var recordedAt: Timestamp
    public var actor: String
    public var correlationID: String
    /// The event's public fields (``UserEvent/feedFields``).
    public var fields: [String: FeedValue]
    /// The event's personal fields; `nil` when not asked for, the user is erased, or the event
    /// has none.
    public var personal: [String: FeedValue]?
    /// The event's chain hash, which names everything before it too: the same position with
    /// another hash is another history (a log replaced, say restored from an older backup and
    /// written again). `nil` where the feed does not give it; in the event's JSON as
    /// `chain_hash` when known.
    public var chainHash: ChainHash?

    public init(
        position: UInt64, stream: UUID, streamVersion: UInt64, type: String, recordedAt: Timestamp, actor: String,
        correlationID: String, fields: [String: FeedValue], personal: [String: FeedValue]?, chainHash: ChainHash? = nil
    ) {
        self.chainHash = chainHash
        self.position = position
        self.stream = stream
        self.streamVersion = streamVersion
        self.type = type
        self.recordedAt = recordedAt
        self.actor = actor
        self.correlationID = correlationID
        self.fields = fields
        self.personal = personal
    }
}

/// A field's value in the feed: JSON's string, integer or null.
public enum FeedValue: Hashable, Sendable {
    case string(String)
    case integer(Int64)
    case null
}
