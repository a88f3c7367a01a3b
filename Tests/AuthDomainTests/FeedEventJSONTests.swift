import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthDomain

/// The feed's hand-written JSON (``FeedEvent/writeJSON(to:)``) against the general serializer
/// it replaced, over random events: the same object always, the same bytes where the two
/// escape alike.
@Suite(.ownThreads) struct FeedEventJSONTests {
    static let names = [
        "consecutive_failures", "email", "expires_at", "first_name", "from", "last_name", "locked_until", "new_email",
        "phone", "role", "session_id", "stripe_customer_id", "to",
    ]

    /// The serializer the feed used first: JSONSerialization with sorted keys.
    static func reference(_ event: FeedEvent) throws -> [UInt8] {
        func object(_ fields: [String: FeedValue]) -> [String: Any] {
            fields.mapValues { value -> Any in
                switch value {
                case .string(let text): return text
                case .integer(let number): return number
                case .null: return NSNull()
                }
            }
        }
        var json: [String: Any] = [
            "position": event.position, "stream": event.stream.uuidString.lowercased(),
            "stream_version": event.streamVersion, "type": event.type, "recorded_at": event.recordedAt.description,
            "actor": event.actor, "correlation_id": event.correlationID, "data": object(event.fields),
        ]
        if let personal = event.personal { json["personal"] = object(personal) }
        if let hash = event.chainHash { json["chain_hash"] = hash.description }
        return Array(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    static func randomEvent(_ random: inout SplitMix64, alphabet: [Character]) -> FeedEvent {
        func text() -> String {
            String((0..<Int(random.next() % 12)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
        }
        func fields() -> [String: FeedValue] {
            var fields: [String: FeedValue] = [:]
            for name in names where random.next() % 3 == 0 {
                switch random.next() % 3 {
                case 0: fields[name] = .string(text())
                case 1: fields[name] = .integer(Int64(bitPattern: random.next()))
                default: fields[name] = .null
                }
            }
            return fields
        }
        return FeedEvent(
            position: random.next() >> 1, stream: UUID(), streamVersion: random.next() % 100_000,
            type: UserEvent.Kind.allCases[Int(random.next() % UInt64(UserEvent.Kind.allCases.count))].name.description,
            recordedAt: Timestamp(microsecondsSince1970: Int64(random.next() % 4_000_000_000_000_000)),
            actor: random.next() % 2 == 0 ? "system" : "credential:" + text(), correlationID: text(), fields: fields(),
            personal: random.next() % 2 == 0 ? nil : fields(),
            chainHash: random.next() % 2 == 0
                ? nil
                : (0..<4).flatMap { _ in withUnsafeBytes(of: random.next()) { Array($0) } }
                    .withUnsafeBytes { ChainHash(bytes: $0) })
    }

    @Test func everyEventParsesToTheObjectTheGeneralSerializerWrites() throws {
        var random = SplitMix64(seed: 0x6665_6564)
        let alphabet = Array("aZ09 _-/\"\\\n\r\t\u{01}\u{1F}é€😀\u{2028}\u{2029}<>&'")
        for _ in 0..<2_000 {
            let event = Self.randomEvent(&random, alphabet: alphabet)
            let fast = try JSONSerialization.jsonObject(with: Data(event.jsonBytes())) as? NSDictionary
            let slow = try JSONSerialization.jsonObject(with: Data(try Self.reference(event))) as? NSDictionary
            #expect(fast != nil && fast == slow, "\(String(decoding: event.jsonBytes(), as: UTF8.self))")
        }
    }

    @Test func plainEventsAreTheSameBytesKeysInTheSameOrder() throws {
        var random = SplitMix64(seed: 0x6f72_6465)
        let alphabet = Array("aZ09 _-/\"\\\n\t.@+é€😀")
        for _ in 0..<2_000 {
            let event = Self.randomEvent(&random, alphabet: alphabet)
            var appended: [UInt8] = [0x5B]
            event.writeJSON(to: &appended)
            #expect(event.jsonBytes() == (try Self.reference(event)))
            #expect(appended == [0x5B] + event.jsonBytes(), "writeJSON appends what jsonBytes returns")
        }
    }
}
