import EventLog
import Foundation

/// Where a read into the past stops folding: at a log position, or at an instant (events
/// recorded at or before it).
public enum ReadMoment: Hashable, Sendable {
    case position(UInt64)
    case instant(Timestamp)

    /// A log position (digits) or an RFC 3339 instant, with or without fractional seconds.
    public init?(parsing text: String) {
        if let position = UInt64(text) {
            self = .position(position)
            return
        }
        // Nothing to parse: no formatter made (making one is costly, and the console asks
        // for every empty filter field of every page).
        guard !text.isEmpty else { return nil }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime],
        ] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) {
                self = .instant(Timestamp(date))
                return
            }
        }
        return nil
    }

    /// Whether `event` is folded into a read as of this moment.
    public func includes(_ event: RecordedEvent) -> Bool {
        includes(position: event.position, recordedAt: event.recordedAt)
    }

    /// Whether an event at `position`, recorded at `recordedAt`, falls at or before this moment.
    public func includes(position: UInt64, recordedAt: Timestamp) -> Bool {
        switch self {
        case .position(let moment): return position <= moment
        case .instant(let instant): return recordedAt <= instant
        }
    }
}
