import AuthDomain
import EventLog
import Foundation
import Testing

@testable import Projections

/// The User table's row codec across its formats.
@Suite(.ownThreads) struct UserRowTests {
    /// A row of format 5 holds the times of the latest reset and verification requests and
    /// notices and gives them back; the same row as format 4 wrote it (without the notices'
    /// times) and as format 3 wrote it (without any) still decodes, as a user with none, and a
    /// count past what a state keeps is refused.
    @Test func requestTimesRoundTripAndRowsFromBeforeThemStillDecode() throws {
        var state = UserState(id: UUID())
        state.version = 7
        state.isErased = true  // no sealed part: the row ends with its varint 0
        state.resetRequestTimes = [Timestamp(microsecondsSince1970: 10), Timestamp(microsecondsSince1970: 20)]
        state.verificationRequestTimes = [Timestamp(microsecondsSince1970: 30)]
        state.noticeTimes = [Timestamp(microsecondsSince1970: 40), Timestamp(microsecondsSince1970: 50)]
        let row = try UserRow.encode(state) { _ in [] }
        #expect(row[0] == 5)
        let back = try row.withUnsafeBytes { try UserRow.decode($0, id: state.id) { _ in nil }.state }
        #expect(back == state)

        var none = state
        none.resetRequestTimes = []
        none.verificationRequestTimes = []
        none.noticeTimes = []
        let empty = try UserRow.encode(none) { _ in [] }
        #expect(empty.suffix(4) == [0, 0, 0, 0], "three empty counts, then the empty sealed part")
        for (format, counts) in [(UInt8(4), 2), (3, 0)] {
            var older = empty
            older.removeSubrange(older.count - 4 + counts..<older.count - 1)
            older[0] = format
            let decoded = try older.withUnsafeBytes { try UserRow.decode($0, id: state.id) { _ in nil }.state }
            #expect(decoded == none, "format \(format)")
        }
        var fourWithTimes = try UserRow.encode(state) { _ in [] }
        fourWithTimes.removeSubrange(fourWithTimes.count - 2 - 16..<fourWithTimes.count - 1)
        fourWithTimes[0] = 4
        var withoutNotices = state
        withoutNotices.noticeTimes = []
        let four = try fourWithTimes.withUnsafeBytes { try UserRow.decode($0, id: state.id) { _ in nil }.state }
        #expect(four == withoutNotices)

        for counted in 1...3 {
            var tooMany = empty
            tooMany[tooMany.count - 1 - counted] = UInt8(UserState.requestTimesKept + 1)
            #expect(throws: BinaryDecodingError.self) {
                _ = try tooMany.withUnsafeBytes { try UserRow.decode($0, id: state.id) { _ in nil } }
            }
        }
    }
}
