import AuthDomain
import DataProtection
import EventLog
import Foundation

/// Seals and opens the personal parts of user events with each user's data key.
public struct UserEventSealing: Sendable {
    public let keys: KeyStore

    public init(keys: KeyStore) {
        self.keys = keys
    }

    /// One stored event as a ``UserEvent``; personal fields empty once the key is gone.
    public func decode(_ event: RecordedEvent) throws -> UserEvent {
        try event.payload.withUnsafeBytes {
            try decode(
                type: event.type, schemaVersion: event.schemaVersion, payload: $0, stream: event.streamID,
                version: event.streamVersion)
        }
    }

    /// An event read in place, as ``UserEvent``.
    public func decode(_ view: EnvelopeView) throws -> UserEvent {
        try decode(
            type: view.type, schemaVersion: view.schemaVersion, payload: view.payload, stream: view.streamID,
            version: view.streamVersion)
    }

    func decode(
        type: String, schemaVersion: UInt16, payload: UnsafeRawBufferPointer, stream: UUID, version: UInt64
    ) throws -> UserEvent {
        try UserEvent(type: type, schemaVersion: schemaVersion, payload: payload) { sealed in
            guard let key = try keys.dataKey(for: stream) else { return nil }
            return try AESGCM.open(
                sealed, key: key,
                associatedData: UserEvent.sealingContext(stream: stream, version: version, type: type))
        }
    }

    /// The envelopes for `events` appended to `id` after `version`, personal parts sealed.
    public func newEvents(
        _ events: [UserEvent], for id: UUID, after version: UInt64, actor: Actor, correlationID: String
    ) throws -> [NewEvent] {
        let key = events.contains(where: \.hasPersonalData) ? try keys.dataKey(for: id) : nil
        return try events.enumerated().map { index, event in
            try event.newEvent(actor: actor, correlationID: correlationID) { personal in
                guard let key else { throw DataProtectionError.missingKey("user \(id) has no data key") }
                let context = UserEvent.sealingContext(
                    stream: id, version: version + 1 + UInt64(index), type: event.typeName)
                return try AESGCM.seal(personal, key: key, associatedData: context)
            }
        }
    }
}
