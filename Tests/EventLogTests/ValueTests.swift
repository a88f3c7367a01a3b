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
