/// Sums and differences of instants that cannot trap.
///
/// A timestamp can come from a backup or a data directory someone else wrote, so any value of
/// `Int64` may reach these functions (−2^63 included). Rules: a sum or difference that does
/// not fit saturates at `Int64.min` or `Int64.max` microseconds, which compare as "before
/// everything" and "after everything"; nothing here ever overflows.
extension Timestamp {
    /// The instant `microseconds` later (earlier when negative), saturating at the ends of
    /// the range.
    public func adding(microseconds: Int64) -> Timestamp {
        let (sum, overflow) = microsecondsSince1970.addingReportingOverflow(microseconds)
        guard overflow else { return Timestamp(microsecondsSince1970: sum) }
        return Timestamp(microsecondsSince1970: microseconds < 0 ? .min : .max)
    }

    /// Microseconds from `earlier` to this instant (negative when `earlier` is later),
    /// saturating at the ends of `Int64`.
    public func microseconds(since earlier: Timestamp) -> Int64 {
        let (difference, overflow) = microsecondsSince1970.subtractingReportingOverflow(
            earlier.microsecondsSince1970)
        guard overflow else { return difference }
        return earlier.microsecondsSince1970 < 0 ? .max : .min
    }
}
