import Foundation

/// Where the shell reads a user's current state before it decides: the port a projection or a
/// fold of the log's streams serves, so that the service needs neither.
///
/// Rules every implementation keeps:
/// - ``state(of:)`` is the fold of the user's whole stream (``UserState/evolve(_:at:)`` from
///   `UserState(id:)`) at the stream's current version in the log; `UserState(id:)` when
///   there is no stream. A faster path (a projected row, a cache) may answer only when it is
///   at that version, and must answer exactly what the fold would.
/// - Personal fields are opened with the user's data key; once it is destroyed they read empty.
/// - Reading has no side effect: it never appends and never destroys a key (finishing an
///   erase is the erase's own step).
/// - ``owner(ofEmail:)`` is the holder of the address's uniqueness claim in the log now.
/// - ``recentState(of:)`` may answer an older state that is cheaper to read (a cluster node's
///   own copy, without a round trip to the shared log), saying so (`current: false`). The
///   service takes a decision from it only when an append expecting its version succeeds,
///   which proves it current; any other outcome is decided again from ``state(of:)``.
public protocol UserStateSource: Sendable {
    /// The user as the fold of their stream (an empty state when there is none).
    func state(of id: UUID) throws -> UserState
    /// The user at ``state(of:)``'s version (`current`), or at an older one (see the rules).
    func recentState(of id: UUID) throws -> (state: UserState, current: Bool)
    /// The user whose email claim `address` is, if it is taken.
    func owner(ofEmail address: EmailAddress) throws -> UUID?
}

extension UserStateSource {
    public func recentState(of id: UUID) throws -> (state: UserState, current: Bool) {
        (try state(of: id), true)
    }
}
