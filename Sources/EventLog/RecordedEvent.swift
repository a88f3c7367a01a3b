import Foundation

/// An event as the log holds it: everything in its envelope, owned.
public struct RecordedEvent: Hashable, Sendable {
    /// Dense, from 1, across the whole log.
    public var position: UInt64
    public var streamID: UUID
    /// Dense, from 1, within the stream.
    public var streamVersion: UInt64
    public var type: String
    public var schemaVersion: UInt16
    public var recordedAt: Timestamp
    public var metadata: EventMetadata
    public var payload: [UInt8]
    /// SHA-256 of the previous event's hash followed by this envelope's canonical bytes.
    public var hash: ChainHash

    public init(
        position: UInt64, streamID: UUID, streamVersion: UInt64, type: String, schemaVersion: UInt16,
        recordedAt: Timestamp, metadata: EventMetadata, payload: [UInt8], hash: ChainHash
    ) {
        self.position = position
        self.streamID = streamID
        self.streamVersion = streamVersion
        self.type = type
        self.schemaVersion = schemaVersion
        self.recordedAt = recordedAt
        self.metadata = metadata
        self.payload = payload
        self.hash = hash
    }
}
