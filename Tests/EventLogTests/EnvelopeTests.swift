import Foundation
import TestSupport
import Testing

@testable import EventLog

@Suite(.ownThreads) struct EnvelopeTests {
    let event = NewEvent(
        type: "UserRegistered", schemaVersion: 3,
        metadata: EventMetadata(actor: "anonymous", correlationID: "req-1"), payload: Array("hello".utf8))

    func stored(_ event: NewEvent, position: UInt64, previous: ChainHash) -> [UInt8] {
        var writer = ByteWriter()
        Envelope.writeCanonical(
            of: event, position: position, streamID: UUID(uuidString: "00000000-0000-0000-0000-0000000000AB")!,
            streamVersion: 2, recordedAt: Timestamp(microsecondsSince1970: 1_790_000_000_123_456), to: &writer)
        var scratch: [UInt8] = []
        let hash = writer.bytes.withUnsafeBytes { previous.next(canonicalBytes: $0, scratch: &scratch) }
        return writer.bytes + hash.bytes
    }

    @Test func parseReadsBackEveryField() throws {
        let bytes = stored(event, position: 9, previous: .genesis)
        let recorded = try bytes.withUnsafeBytes { try Envelope.parse($0).recorded }
        #expect(recorded.position == 9)
        #expect(recorded.streamID.uuidString == "00000000-0000-0000-0000-0000000000AB")
        #expect(recorded.streamVersion == 2)
        #expect(recorded.type == "UserRegistered")
        #expect(recorded.schemaVersion == 3)
        #expect(recorded.recordedAt.microsecondsSince1970 == 1_790_000_000_123_456)
        #expect(recorded.metadata == event.metadata)
        #expect(recorded.payload == Array("hello".utf8))
        #expect(bytes.withUnsafeBytes { (try? Envelope.parse($0))?.hasType("UserRegistered") } == true)
    }

    @Test func theCanonicalLayoutIsTheDocumentedOne() {
        let bytes = stored(event, position: 1, previous: .genesis)
        // format, position, stream, version, time, schema, 3 short strings, payload, hash
        let expected = 1 + 8 + 16 + 8 + 8 + 2 + (1 + 14) + (1 + 9) + (1 + 5) + (4 + 5) + 32
        #expect(bytes.count == expected)
        #expect(bytes[0] == 1)
        #expect(Array(bytes[1..<9]) == [0, 0, 0, 0, 0, 0, 0, 1])
    }

    @Test func theHashCoversThePreviousHash() {
        let first = stored(event, position: 1, previous: .genesis)
        let other = ChainHash(hex: String(repeating: "ab", count: 32))!
        let second = stored(event, position: 1, previous: other)
        #expect(first.suffix(32) != second.suffix(32))
        #expect(first.dropLast(32) == second.dropLast(32))
    }

    @Test func trailingOrMissingBytesAreMalformed() {
        var bytes = stored(event, position: 1, previous: .genesis)
        bytes.insert(0, at: bytes.count - 32)
        #expect(throws: BinaryDecodingError.self) { try bytes.withUnsafeBytes { _ = try Envelope.parse($0) } }
        let short = [UInt8](repeating: 1, count: 20)
        #expect(throws: BinaryDecodingError.self) { try short.withUnsafeBytes { _ = try Envelope.parse($0) } }
    }

    @Test func limitsAreChecked() {
        var big = event
        big.payload = [UInt8](repeating: 0, count: NewEvent.maximumPayloadSize + 1)
        #expect(throws: EventLogError.payloadTooLarge(size: NewEvent.maximumPayloadSize + 1, limit: 65_536)) {
            try big.validate()
        }
        var untyped = event
        untyped.type = ""
        #expect(throws: EventLogError.self) { try untyped.validate() }
        var chatty = event
        chatty.metadata.actor = String(repeating: "a", count: 256)
        #expect(throws: EventLogError.self) { try chatty.validate() }
        #expect(throws: Never.self) { try event.validate() }
    }
}
