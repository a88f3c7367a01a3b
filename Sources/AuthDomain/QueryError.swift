/// A query that cannot be answered as asked.
public enum QueryError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidCursor
    /// The log exists but its projections were never built (an import or a seed of an older
    /// release, or a copied `data.mdb`): read-only callers cannot build them.
    case projectionsMissing(directory: String)

    public var description: String {
        switch self {
        case .invalidCursor: return "the cursor is not one this query returned"
        case .projectionsMissing(let directory):
            return "\(directory) holds an event log but no projections yet: run `authctl --data \(directory) rebuild` "
                + "(or start authd once) to build them"
        }
    }
}
