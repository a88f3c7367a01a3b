/// What an appender believes about a stream before it writes (optimistic concurrency).
public enum ExpectedVersion: Hashable, Sendable, CustomStringConvertible {
    /// The stream must not exist yet.
    case noStream
    /// The stream's current version must be exactly this (versions start at 1).
    case exactly(UInt64)
    /// No expectation: append whatever the stream holds.
    case any

    /// Whether a stream whose current version is `current` (0 when it does not exist) meets it.
    public func isMet(byCurrent current: UInt64) -> Bool {
        switch self {
        case .noStream: return current == 0
        case .exactly(let version): return current == version
        case .any: return true
        }
    }

    public var description: String {
        switch self {
        case .noStream: return "no stream"
        case .exactly(let version): return "version \(version)"
        case .any: return "any version"
        }
    }
}
