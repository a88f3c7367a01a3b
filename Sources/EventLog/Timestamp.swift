import Foundation

/// An instant in UTC with microsecond resolution, as the log records it.
///
/// `Date` is a `Double` of seconds and rounds microseconds away at today's magnitudes, so
/// the log keeps whole microseconds since 1970-01-01T00:00:00Z.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var microsecondsSince1970: Int64

    public init(microsecondsSince1970: Int64) {
        self.microsecondsSince1970 = microsecondsSince1970
    }

    /// The instant of `date`, clamped to the range an `Int64` of microseconds holds (so about
    /// ±292,000 years); NaN becomes 1970-01-01T00:00:00Z. Never traps.
    public init(_ date: Date) {
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        if micros.isNaN {
            self.microsecondsSince1970 = 0
        } else if micros >= 0x1p63 {  // 2^63, the first whole number past Int64.max
            self.microsecondsSince1970 = .max
        } else if micros <= -9_223_372_036_854_775_808 {
            self.microsecondsSince1970 = .min
        } else {
            self.microsecondsSince1970 = Int64(micros)
        }
    }

    /// The current wall-clock time.
    public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(microsecondsSince1970: Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1_000)
    }

    public var date: Date {
        Date(timeIntervalSince1970: Double(microsecondsSince1970) / 1_000_000)
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.microsecondsSince1970 < rhs.microsecondsSince1970
    }

    /// RFC 3339 in UTC with six fractional digits, e.g. `2026-11-27T17:44:28.123456Z`.
    public var description: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(27)
        writeRFC3339(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends ``description`` as UTF-8 to `bytes`, without building strings: the read API
    /// prints several times per user, and `gmtime_r` with string padding cost more than the
    /// rest of a response body. Years 1 to 9999 are computed from the day count (proleptic
    /// Gregorian calendar, as `gmtime_r`); instants outside them go through `gmtime_r`.
    public func writeRFC3339(to bytes: inout [UInt8]) {
        let (seconds, fraction) = Self.floorDivision(microsecondsSince1970, by: 1_000_000)
        let (days, secondOfDay) = Self.floorDivision(seconds, by: 86_400)
        let (year, month, day) = Self.civil(fromDays: days)
        guard (1...9999).contains(year) else {
            bytes.append(contentsOf: gmtimeDescription().utf8)
            return
        }
        // Each digit put at its place in the 27-byte form (divisions by 10 only, which the
        // compiler makes multiplications), then the form appended at once.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 27) { form in
            func put(_ value: Int64, width: Int, endingAt end: Int, then separator: UInt8) {
                var rest = value
                for index in stride(from: end - 1, through: end - width, by: -1) {
                    form[index] = UInt8(truncatingIfNeeded: 0x30 + rest % 10)
                    rest /= 10
                }
                form[end] = separator
            }
            put(year, width: 4, endingAt: 4, then: 0x2D)  // -
            put(month, width: 2, endingAt: 7, then: 0x2D)
            put(day, width: 2, endingAt: 10, then: 0x54)  // T
            put(secondOfDay / 3_600, width: 2, endingAt: 13, then: 0x3A)  // :
            put(secondOfDay / 60 % 60, width: 2, endingAt: 16, then: 0x3A)
            put(secondOfDay % 60, width: 2, endingAt: 19, then: 0x2E)  // .
            put(fraction, width: 6, endingAt: 26, then: 0x5A)  // Z
            bytes.append(contentsOf: UnsafeBufferPointer(form))
        }
    }

    /// `value` divided by a positive `divisor`, rounded towards minus infinity, and the
    /// remainder (0 ..< divisor). Never traps, even for `Int64.min`.
    static func floorDivision(_ value: Int64, by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = value / divisor
        let remainder = value % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    /// Year, month and day of the day `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// The form through `gmtime_r`, for years the day count does not print.
    func gmtimeDescription() -> String {
        let (seconds, fraction) = Self.floorDivision(microsecondsSince1970, by: 1_000_000)
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let fractionDigits = String(fraction)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: 6 - fractionDigits.count) + fractionDigits + "Z"
    }
}
