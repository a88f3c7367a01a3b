import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthDomain

@Suite(.ownThreads) struct EventKindTests {
    @Test func everyKindIsRecognisedFromItsNameAndNothingElseIs() {
        for kind in UserEvent.Kind.allCases {
            #expect(UserEvent.Kind(name: kind.name.description) == kind)
        }
        for unknown in [
            "", "User", "UserRegistere", "UserRegisteredX", "userRegistered", String(repeating: "A", count: 300),
        ] {
            #expect(UserEvent.Kind(name: unknown) == nil, "\(unknown)")
        }
        // Every name with any one byte changed is no kind's name.
        for kind in UserEvent.Kind.allCases {
            let name = Array(kind.name.description.utf8)
            for index in name.indices {
                var changed = name
                changed[index] ^= 0x20
                #expect(changed.withUnsafeBytes { UserEvent.Kind(typeBytes: $0) } == nil, "\(kind) at \(index)")
            }
        }
    }

    @Test func theKindOfAnEventNamesItsStoredType() {
        let events: [UserEvent] = [
            .registered(
                .init(email: "a@b.cd", passwordHash: "h", firstName: "A", lastName: "B", phone: nil, role: .admin)),
            .emailVerified, .softDeleted, .restored, .erased, .roleChanged(from: .target, to: .manager),
            .loggedOut(sessionID: UUID()), .passwordChanged(passwordHash: "h"),
            .profileUpdated(.init(firstName: "C")), .stripeCustomerLinked(customerID: "cus_1"),
            .stripeCustomerUnlinked, .emailChanged(email: "new@b.cd"),
            .emailChangeRequested(
                .init(
                    newEmail: "new@b.cd", tokenHash: TokenHash(of: [1]), expiresAt: Timestamp(microsecondsSince1970: 9))
            ),
        ]
        for event in events {
            #expect(event.typeName == event.kind.name.description)
            #expect(event.hasPersonalData == event.kind.hasPersonalData)
            let payload = event.payload { $0 }
            let decoded = payload.withUnsafeBytes { raw in
                try? UserEvent(kind: event.kind, schemaVersion: 1, payload: raw) { Array($0) }
            }
            #expect(decoded == event)
        }
    }

    @Test func anUnknownTypeOrSchemaVersionIsATypedError() {
        #expect(throws: BinaryDecodingError.self) {
            try [UInt8]().withUnsafeBytes {
                _ = try UserEvent(type: "UserTeleported", schemaVersion: 1, payload: $0) { _ in nil }
            }
        }
        #expect(throws: BinaryDecodingError.self) {
            try [UInt8]().withUnsafeBytes {
                _ = try UserEvent(kind: .emailVerified, schemaVersion: 2, payload: $0) { _ in nil }
            }
        }
    }
}
