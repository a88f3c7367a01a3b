import Foundation

/// One append: events for one stream, under an expectation about the stream's version, and
/// the unique keys it takes or gives up in the same transaction.
public struct AppendRequest: Hashable, Sendable {
    public var stream: UUID
    public var expected: ExpectedVersion
    public var events: [NewEvent]
    public var claims: [UniqueClaim]

    public init(stream: UUID, expected: ExpectedVersion, events: [NewEvent], claims: [UniqueClaim] = []) {
        self.stream = stream
        self.expected = expected
        self.events = events
        self.claims = claims
    }
}

/// A key that at most one stream may hold within a scope (an email address, a customer id).
///
/// Claims are checked and written in the same transaction as the append they ride on, so
/// two appends claiming one key cannot both succeed. The log stores the key as given:
/// callers that must not keep a value in clear pass a digest of it.
public struct UniqueClaim: Hashable, Sendable {
    public enum Action: Hashable, Sendable {
        /// Take the key; fails with ``EventLogError/uniqueViolation(scope:)`` if another
        /// stream holds it. Taking a key the stream already holds is a no-op.
        case claim
        /// Give the key up if this stream holds it.
        case release
    }

    public var action: Action
    /// A short name for the kind of key, e.g. `email`; 1 to 64 bytes of UTF-8.
    public var scope: String
    /// 1 to 256 bytes.
    public var key: [UInt8]

    public init(_ action: Action, scope: String, key: [UInt8]) {
        self.action = action
        self.scope = scope
        self.key = key
    }
}

/// Where an acknowledged append landed.
public struct AppendResult: Hashable, Sendable {
    public var stream: UUID
    /// Positions of the first and last appended event.
    public var firstPosition: UInt64
    public var lastPosition: UInt64
    /// The stream's version after the append (the version of its last event).
    public var streamVersion: UInt64
    public var recordedAt: Timestamp

    public init(stream: UUID, firstPosition: UInt64, lastPosition: UInt64, streamVersion: UInt64, recordedAt: Timestamp)
    {
        self.stream = stream
        self.firstPosition = firstPosition
        self.lastPosition = lastPosition
        self.streamVersion = streamVersion
        self.recordedAt = recordedAt
    }
}

/// The append-only event log every part of Authlog folds over. It knows nothing of users.
///
/// Rules every backend keeps:
/// - Positions are dense from 1 across the log; stream versions dense from 1 per stream.
/// - An append is all or nothing, and meets its ``ExpectedVersion`` or fails with
///   ``EventLogError/conflict(stream:expected:actual:)`` having written nothing.
/// - An append returns only once its events are durable.
/// - Appends submitted together may share one commit, yet each succeeds or fails on its own.
/// - Each stored event carries `SHA-256(previous hash || canonical bytes)`, so
///   ``verify(from:through:)`` finds any change, removal or reordering.
/// - Errors thrown are ``EventLogError``.
public protocol EventLog: Sendable {
    /// Appends each request on its own; the outer call throws only when none could be tried
    /// (closed log, full disk, storage failure), in which case none was acknowledged.
    func append(_ requests: [AppendRequest]) async throws -> [Result<AppendResult, EventLogError>]

    /// Events of `stream` from `version` on, in order.
    func readStream(_ stream: UUID, from version: UInt64) throws -> [RecordedEvent]

    /// Up to `limit` events from `position` on, in order.
    func read(from position: UInt64, limit: Int) throws -> [RecordedEvent]

    /// The position of the last event; 0 for an empty log.
    func headPosition() throws -> UInt64

    /// The stream's current version; 0 when it has no events.
    func currentVersion(of stream: UUID) throws -> UInt64

    /// Recomputes the chain over `from...through` (through the head when `nil`).
    func verify(from position: UInt64, through: UInt64?) throws -> ChainVerification

    /// The stream holding `key` in `scope`, if any.
    func owner(of key: [UInt8], in scope: String) throws -> UUID?
}

extension EventLog {
    /// Appends `events` to `stream`, throwing ``EventLogError`` (a conflict among them).
    public func append(
        _ events: [NewEvent], to stream: UUID, expecting expected: ExpectedVersion
    ) async throws -> AppendResult {
        let outcomes = try await append([AppendRequest(stream: stream, expected: expected, events: events)])
        return try outcomes[0].get()
    }

    /// Every event from `position` on, read a page at a time so the log is never in memory whole.
    public func events(from position: UInt64 = 1, pageSize: Int = 4_096) -> LogEvents {
        LogEvents(log: self, start: position, pageSize: pageSize)
    }
}

/// The events of a log from a position, fetched a page at a time.
public struct LogEvents: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent
    let log: any EventLog
    let start: UInt64
    let pageSize: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let log: any EventLog
        var next: UInt64
        let pageSize: Int
        var page: [RecordedEvent] = []
        var index = 0
        var exhausted = false

        public mutating func next() async throws -> RecordedEvent? {
            if index == page.count {
                if exhausted { return nil }
                page = try log.read(from: next, limit: pageSize)
                index = 0
                if page.count < pageSize { exhausted = true }
                guard let last = page.last else { return nil }
                next = last.position + 1
            }
            defer { index += 1 }
            return page[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(log: log, next: start, pageSize: pageSize)
    }
}
