import AuthDomain
import DataProtection
import EventLog
import EventSealing
import Foundation
import Projections

/// Users' current states on a cluster node: the row of the node's copy (``LogMirror``), brought
/// up to the shared log by folding only the events the copy does not hold yet.
///
/// Rules:
/// - ``state(of:)`` answers what ``FoldedUserStates`` over the shared log answers (pinned by a
///   test): the copy's row is the fold of the stream through the row's version, and the shared
///   log is asked for the stream's events after that version alone, in one read. An answer is
///   therefore never older than the shared log at the moment of that read, however far the
///   copy lags.
/// - A user the copy has not seen starts from an empty state, so the whole stream is read.
/// - Email owners are the shared log's claims, never the copy's.
/// - While the copy is made again (``LogMirror/isCopyingAgain``) its rows may hold states the
///   shared log does not: a user is then folded from the shared log's stream alone, in both.
/// - ``recentState(of:)`` is the copy's row alone (`current: false`): a command's first attempt
///   on a node asks PostgreSQL nothing before its append, whose version check proves the row
///   current or sends the command back to ``state(of:)``.
public struct MirroredUserStates: UserStateSource {
    let mirror: LogMirror
    let queries: UserQueries
    let shared: any EventLog
    let sealing: UserEventSealing

    public init(mirror: LogMirror) {
        self.mirror = mirror
        self.queries = UserQueries(mirror.projection)
        self.shared = mirror.shared
        self.sealing = UserEventSealing(keys: mirror.keys)
    }

    public func state(of id: UUID) throws -> UserState {
        var state = try mirror.isCopyingAgain ? UserState(id: id) : queries.user(id: id) ?? UserState(id: id)
        for event in try shared.readStream(id, from: state.version + 1) {
            state = state.evolve(try sealing.decode(event), at: event.recordedAt)
        }
        return state
    }

    public func recentState(of id: UUID) throws -> (state: UserState, current: Bool) {
        if mirror.isCopyingAgain { return (try state(of: id), true) }
        return (try queries.user(id: id) ?? UserState(id: id), false)
    }

    public func owner(ofEmail address: EmailAddress) throws -> UUID? {
        try shared.owner(of: address.claimKey, in: EmailAddress.claimScope)
    }
}
