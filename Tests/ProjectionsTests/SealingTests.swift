import AuthDomain
import DataProtection
import EventLog
import EventSealing
import Foundation
import TestSupport
import Testing

@testable import Projections

@Suite(.ownThreads) struct SealingTests {
    /// An envelope as stored, for reading in place.
    func stored(_ event: NewEvent, stream: UUID, version: UInt64) -> [UInt8] {
        var writer = ByteWriter()
        Envelope.writeCanonical(
            of: event, position: 42, streamID: stream, streamVersion: version,
            recordedAt: Timestamp(microsecondsSince1970: 1), to: &writer)
        return writer.bytes + [UInt8](repeating: 0, count: Envelope.hashSize)
    }

    @Test func theInPlaceContextIsTheDomainsSealingContext() throws {
        let stream = UUID()
        let event = NewEvent(
            type: "ProfileUpdated", metadata: EventMetadata(actor: "system", correlationID: "c"), payload: [1])
        try stored(event, stream: stream, version: 7).withUnsafeBytes { raw in
            let view = try Envelope.parse(raw)
            let built = try UserEventSealing.withSealingContext(of: view) { Array($0) }
            #expect(built == UserEvent.sealingContext(stream: stream, version: 7, type: "ProfileUpdated"))
        }
    }

    @Test func theBulkDecodeOpensWhatTheServiceSealed() throws {
        let stream = UUID()
        let key = [UInt8](repeating: 5, count: 32)
        let event = UserEvent.registered(
            .init(
                email: "ada@example.com", passwordHash: "$argon2id$x", firstName: "Ada", lastName: "L", phone: "+1 555",
                role: .manager))
        let new = try event.newEvent(actor: .system, correlationID: "c") { personal in
            try AESGCM.seal(
                personal, key: key,
                associatedData: UserEvent.sealingContext(stream: stream, version: 1, type: event.typeName))
        }
        let context = try AESGCMContext()
        try stored(new, stream: stream, version: 1).withUnsafeBytes { raw in
            let view = try Envelope.parse(raw)
            let sealing = UserEventSealing(keys: KeyStore.locked())
            let kind = try UserEventSealing.kind(of: view)
            #expect(
                try key.withUnsafeBytes { try sealing.decode(view, kind: kind, key: $0, context: context) } == event)
            // Without the key (erased), the personal fields come back empty.
            guard case .registered(let empty) = try sealing.decode(view, kind: kind, key: nil, context: context) else {
                Issue.record("not a registration")
                return
            }
            #expect(empty.email.isEmpty && empty.role == .manager)
            // Under another version the sealed part does not open.
            try stored(new, stream: stream, version: 2).withUnsafeBytes { moved in
                let view = try Envelope.parse(moved)
                #expect(throws: DataProtectionError.tampered) {
                    try key.withUnsafeBytes { _ = try sealing.decode(view, kind: kind, key: $0, context: context) }
                }
            }
        }
    }
}
