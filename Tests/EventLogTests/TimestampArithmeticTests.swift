import Foundation
import TestSupport
import Testing

@testable import EventLog

/// Timestamps from a crafted backup may hold any Int64: nothing done with them may trap.
@Suite(.ownThreads) struct TimestampArithmeticTests {
    let extremes: [Int64] = [.min, .min + 1, -1_000_001, -1, 0, 1, 999_999, .max - 1, .max]

    @Test func sumsSaturateAtTheEnds() {
        let min = Timestamp(microsecondsSince1970: .min)
        let max = Timestamp(microsecondsSince1970: .max)
        #expect(max.adding(microseconds: 1) == max)
        #expect(min.adding(microseconds: -1) == min)
        #expect(min.adding(microseconds: .max).microsecondsSince1970 == -1)
        #expect(Timestamp(microsecondsSince1970: 5).adding(microseconds: 7).microsecondsSince1970 == 12)
        #expect(Timestamp(microsecondsSince1970: 5).adding(microseconds: -7).microsecondsSince1970 == -2)
        #expect(Timestamp(microsecondsSince1970: .max - 10).adding(microseconds: .max) == max)
    }

    @Test func differencesSaturateAtTheEnds() {
        let min = Timestamp(microsecondsSince1970: .min)
        let max = Timestamp(microsecondsSince1970: .max)
        #expect(max.microseconds(since: min) == .max)
        #expect(min.microseconds(since: max) == .min)
        #expect(Timestamp(microsecondsSince1970: 0).microseconds(since: min) == .max)
        #expect(Timestamp(microsecondsSince1970: -2).microseconds(since: max) == .min)
        #expect(Timestamp(microsecondsSince1970: 12).microseconds(since: Timestamp(microsecondsSince1970: 5)) == 7)
        #expect(
            Timestamp(microsecondsSince1970: -1).microseconds(since: Timestamp(microsecondsSince1970: .max)) == .min)
    }

    @Test func everyInstantPrintsWithoutTrapping() {
        for micros in extremes {
            let text = Timestamp(microsecondsSince1970: micros).description
            #expect(text.hasSuffix("Z") && text.count >= 27, "\(micros): \(text)")
        }
        #expect(Timestamp(microsecondsSince1970: .min).description.hasPrefix("-290308-"))
        #expect(Timestamp(microsecondsSince1970: .max).description.hasPrefix("294247-"))
        #expect(Timestamp(microsecondsSince1970: -1_000_001).description == "1969-12-31T23:59:58.999999Z")
    }

    /// The form computed from the day count is the form `gmtime_r` gives across the years it
    /// covers: its first and last microsecond, the days around February's end in leap and
    /// common century years (1600, 1900, 2000, 2100), and 20,000 random instants.
    @Test func theComputedFormIsGmtimesForm() {
        var generator = SystemRandomNumberGenerator()
        let first = Int64(-62_135_596_800) * 1_000_000  // 0001-01-01T00:00:00Z
        let last = Int64(253_402_300_799) * 1_000_000 + 999_999  // 9999-12-31T23:59:59.999999Z
        // Midnights (Unix seconds): 1600-02-29, 1900-02-28, 1900-03-01, 2000-02-29, 2100-02-28,
        // 2100-03-01; each is checked with the microsecond before it and its last microsecond.
        let days: [Int64] = [
            -11_670_998_400, -2_203_977_600, -2_203_891_200, 951_782_400, 4_107_456_000, 4_107_542_400,
        ]
        var instants: [Int64] = [first, last, 0, -1]
        for day in days { instants += [day * 1_000_000 - 1, day * 1_000_000, day * 1_000_000 + 86_399_999_999] }
        for _ in 0..<20_000 { instants.append(Int64.random(in: first...last, using: &generator)) }
        for micros in instants {
            let timestamp = Timestamp(microsecondsSince1970: micros)
            #expect(timestamp.description == timestamp.gmtimeDescription(), "\(micros)")
        }
        #expect(Timestamp(microsecondsSince1970: first).description == "0001-01-01T00:00:00.000000Z")
        #expect(Timestamp(microsecondsSince1970: last).description == "9999-12-31T23:59:59.999999Z")
        #expect(Timestamp(microsecondsSince1970: 951_782_400_000_000).description == "2000-02-29T00:00:00.000000Z")
        #expect(Timestamp(microsecondsSince1970: 4_107_542_400_000_000).description == "2100-03-01T00:00:00.000000Z")
    }

    @Test func floorDivisionRoundsDownWithoutTrapping() {
        for value in extremes {
            let (quotient, remainder) = Timestamp.floorDivision(value, by: 1_000_000)
            #expect((0..<1_000_000).contains(remainder))
            // Wrapping arithmetic is exact here: the true result fits, only the product may not.
            #expect(quotient &* 1_000_000 &+ remainder == value)
        }
        #expect(Timestamp.floorDivision(-1, by: 86_400) == (-1, 86_399))
    }

    @Test func datesOutOfRangeAreClamped() {
        #expect(Timestamp(Date(timeIntervalSince1970: 1e300)).microsecondsSince1970 == .max)
        #expect(Timestamp(Date(timeIntervalSince1970: -1e300)).microsecondsSince1970 == .min)
        #expect(Timestamp(Date(timeIntervalSince1970: .nan)).microsecondsSince1970 == 0)
        #expect(Timestamp(Date(timeIntervalSince1970: 1.5)).microsecondsSince1970 == 1_500_000)
    }
}
