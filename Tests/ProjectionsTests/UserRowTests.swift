import AuthDomain
import EventLog
import Foundation
import Testing

@testable import Projections

/// The User table's row codec across its formats.
@Suite(.ownThreads) struct UserRowTests {
    /// A row of format 4 holds the times of the latest reset and verification requests and
    /// gives them back; the same row as format 3 wrote it (without them) still decodes, as a
    /// user with none, and a count past what a state keeps is refused.
    @Test func requestTimesRoundTripAndRowsFromBeforeThemStillDecode() throws {
        var state = UserState(id: UUID())
        state.version = 7
        state.isErased = true  // no sealed part: the row ends with its varint 0
        state.resetRequestTimes = [Timestamp(microsecondsSince1970: 10), Timestamp(microsecondsSince1970: 20)]
        state.verificationRequestTimes = [Timestamp(microsecondsSince1970: 30)]
        let row = try UserRow.encode(state) { _ in [] }
        let back = try row.withUnsafeBytes { try UserRow.decode($0, id: state.id) { _ in nil }.state }
        #expect(back == state)

        var none = state
        none.resetRequestTimes = []
        none.verificationRequestTimes = []
        var older = try UserRow.encode(none) { _ in [] }
        #expect(older.suffix(3) == [0, 0, 0], "two empty counts, then the empty sealed part")
        older.removeSubrange(older.count - 3..<older.count - 1)
        older[0] = 3
        let decoded = try older.withUnsafeBytes { try UserRow.decode($0, id: state.id) { _ in nil }.state }
        #expect(decoded == none)

        var tooMany = try UserRow.encode(none) { _ in [] }
        tooMany[tooMany.count - 3] = UInt8(UserState.requestTimesKept + 1)
        #expect(throws: BinaryDecodingError.self) {
            _ = try tooMany.withUnsafeBytes { try UserRow.decode($0, id: state.id) { _ in nil } }
        }
    }
}
