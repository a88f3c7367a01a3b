import Foundation
import Testing

@testable import EventLog

@Suite struct ValueTests {
    @Test func expectedVersionRules() {
        #expect(ExpectedVersion.noStream.isMet(byCurrent: 0))
        #expect(!ExpectedVersion.noStream.isMet(byCurrent: 1))
        #expect(ExpectedVersion.exactly(3).isMet(byCurrent: 3))
        #expect(!ExpectedVersion.exactly(3).isMet(byCurrent: 4))
        #expect(ExpectedVersion.any.isMet(byCurrent: 0))
        #expect(ExpectedVersion.any.isMet(byCurrent: 99))
    }

    @Test func timestampsPrintAsRFC3339WithMicroseconds() {
        #expect(Timestamp(microsecondsSince1970: 0).description == "1970-01-01T00:00:00.000000Z")
        #expect(Timestamp(microsecondsSince1970: 1_795_801_468_000_042).description == "2026-11-27T17:44:28.000042Z")
        #expect(Timestamp(microsecondsSince1970: -1).description == "1969-12-31T23:59:59.999999Z")
    }

    @Test func conflictMessagesSayWhatWasExpectedAndFound() {
        let stream = UUID(uuidString: "6F9619FF-8B86-D011-B42D-00C04FC964FF")!
        let error = EventLogError.conflict(stream: stream, expected: .noStream, actual: 2)
        #expect(
            error.description
                == "conflict on stream 6f9619ff-8b86-d011-b42d-00c04fc964ff: expected no stream, found version 2")
    }
}

@Suite struct TimeOrderedUUIDTests {
    @Test func carriesVersionVariantAndMilliseconds() {
        let id = UUID.timeOrdered(at: Timestamp(microsecondsSince1970: 0x0123_4567_89AB * 1_000 + 999))
        let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
        #expect(Array(bytes[0..<6]) == [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB])
        #expect(bytes[6] >> 4 == 7)
        #expect(bytes[8] >> 6 == 0b10)
    }

    @Test func laterIdsSortAfterEarlierOnes() {
        let ids = (0..<100).map { UUID.timeOrdered(at: Timestamp(microsecondsSince1970: Int64($0) * 1_000)) }
        let keys = ids.map { id in withUnsafeBytes(of: id.uuid) { Array($0) } }
        #expect(keys == keys.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(Set(ids).count == 100)
    }
}
