import AuthDomain
import EventLog
import EventSealing
import Foundation

/// A ``UserStateSource`` that answers from the User table: the user's row and its tail
/// (`UserProjection+Tail`) when they reach the stream's current version, the fold of the
/// stream otherwise (a writer without the projector appended meanwhile). The answer is the
/// fold's either way; a test pins the two together.
public struct ProjectedUserStates: UserStateSource {
    let queries: UserQueries
    let fold: FoldedUserStates

    public init(_ projection: UserProjection) {
        self.queries = UserQueries(projection)
        self.fold = FoldedUserStates(log: projection.log, keys: projection.sealing.keys)
    }

    public func state(of id: UUID) throws -> UserState {
        if let row = try queries.user(id: id), row.version == (try queries.log.currentVersion(of: id)) { return row }
        return try fold.state(of: id)
    }

    public func owner(ofEmail address: EmailAddress) throws -> UUID? {
        try fold.owner(ofEmail: address)
    }
}
