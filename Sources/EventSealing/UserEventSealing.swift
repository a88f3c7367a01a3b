import AuthDomain
import DataProtection
import EventLog
import Foundation

/// Seals and opens the personal parts of user events with each user's data key.
///
/// The one codec between the domain's ``UserEvent`` and the log's stored bytes: every reader
/// (the service's stream fold, the projections, export and import) opens events through it,
/// and every writer seals through it, so a second log backend reuses it unchanged.
public struct UserEventSealing: Sendable {
    public let keys: any DataKeyStore

    public init(keys: any DataKeyStore) {
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
        let kind = try Self.kind(of: view)
        return try UserEvent(kind: kind, schemaVersion: view.schemaVersion, payload: view.payload) { sealed in
            guard let key = try keys.dataKey(for: view.streamID) else { return nil }
            return try Self.withSealingContext(of: view) {
                try AESGCM.open(sealed, key: key, associatedData: Array($0))
            }
        }
    }

    /// An event read in place, opened with `key` (the user's data key; `nil` once erased) by
    /// `context`: for a fold that loads the keys itself and runs one context per thread.
    package func decode(
        _ view: EnvelopeView, kind: UserEvent.Kind, key: UnsafeRawBufferPointer?, context: AESGCMContext
    )
        throws -> UserEvent
    {
        try UserEvent(kind: kind, schemaVersion: view.schemaVersion, payload: view.payload) { sealed in
            guard let key else { return nil }
            return try Self.withSealingContext(of: view) { try context.open(sealed, key: key, associatedData: $0) }
        }
    }

    /// An event read in place, opened by `opener` (one user's data key, scheduled once; `nil`
    /// once erased): for a walk of one user's stream.
    package func decode(
        _ view: EnvelopeView, kind: UserEvent.Kind, opener: AESGCMContext.KeyedOpener?
    ) throws -> UserEvent {
        try UserEvent(kind: kind, schemaVersion: view.schemaVersion, payload: view.payload) { sealed in
            guard let opener else { return nil }
            guard sealed.count >= AESGCM.overhead else { throw DataProtectionError.tampered }
            var plaintext = [UInt8](repeating: 0, count: sealed.count - AESGCM.overhead)
            try Self.withSealingContext(of: view) { context in
                try plaintext.withUnsafeMutableBytes { try opener.open(sealed, associatedData: context, into: $0) }
            }
            return plaintext
        }
    }

    package static func kind(of view: EnvelopeView) throws -> UserEvent.Kind {
        guard let kind = UserEvent.Kind(typeBytes: view.typeBytes) else {
            throw BinaryDecodingError.invalidValue("unknown event type \(view.type)")
        }
        return kind
    }

    /// ``UserEvent/sealingContext(stream:version:type:)`` for an event read in place, built on
    /// the stack.
    package static func withSealingContext<Result>(
        of view: EnvelopeView, _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result {
        try withUnsafeTemporaryAllocation(byteCount: 24 + view.typeBytes.count, alignment: 8) { buffer in
            withUnsafeBytes(of: view.streamID.uuid) { buffer.copyMemory(from: $0) }
            buffer.storeBytes(of: view.streamVersion.bigEndian, toByteOffset: 16, as: UInt64.self)
            UnsafeMutableRawBufferPointer(rebasing: buffer[24...]).copyMemory(from: view.typeBytes)
            return try body(UnsafeRawBufferPointer(buffer))
        }
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
