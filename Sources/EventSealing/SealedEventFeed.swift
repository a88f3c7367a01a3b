import AuthDomain
import DataProtection
import EventLog
import Foundation

/// The ``EventFeed`` over any ``EventLog`` and the users' data keys: authd serves it from the
/// log it reads locally (the embedded log, or a cluster node's copy of the shared one).
///
/// Rules, beyond the port's:
/// - A sealed part is opened only when personal fields are asked for and the user still has a
///   data key; otherwise it is never decrypted.
/// - An event of a type this build does not know fails the read (a newer writer's log is not
///   served half-understood).
public struct SealedEventFeed: EventFeed {
    public let log: any EventLog
    public let keys: any DataKeyStore

    public init(log: any EventLog, keys: any DataKeyStore) {
        self.log = log
        self.keys = keys
    }

    public func head() throws -> UInt64 { try log.headPosition() }

    public func events(after position: UInt64, limit: Int, personal: Bool) throws -> [FeedEvent] {
        guard position < UInt64.max else { return [] }
        return try log.read(from: position + 1, limit: max(1, min(limit, 1_000))).map { try feedEvent($0, personal) }
    }

    func feedEvent(_ event: RecordedEvent, _ personal: Bool) throws -> FeedEvent {
        guard let kind = UserEvent.Kind(name: event.type) else {
            throw BinaryDecodingError.invalidValue("unknown event type \(event.type)")
        }
        let key = personal && kind.hasPersonalData ? try keys.dataKey(for: event.streamID) : nil
        let decoded = try event.payload.withUnsafeBytes { payload in
            try UserEvent(kind: kind, schemaVersion: event.schemaVersion, payload: payload) { sealed in
                guard let key else { return nil }
                return try AESGCM.open(
                    sealed, key: key,
                    associatedData: UserEvent.sealingContext(
                        stream: event.streamID, version: event.streamVersion, type: event.type))
            }
        }
        let fields = decoded.feedFields
        return FeedEvent(
            position: event.position, stream: event.streamID, streamVersion: event.streamVersion, type: event.type,
            recordedAt: event.recordedAt, actor: event.metadata.actor, correlationID: event.metadata.correlationID,
            fields: fields.public, personal: key == nil ? nil : fields.personal, chainHash: event.hash)
    }
}
