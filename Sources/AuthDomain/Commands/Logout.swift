import EventLog
import Foundation

/// Ends the session named by the caller's access token. Ending a session that is already
/// gone succeeds without an event.
public struct Logout: UserCommand {
    public var sessionID: UUID

    public init(sessionID: UUID) {
        self.sessionID = sessionID
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.session?.id == sessionID else { return .accept([]) }
        return .accept([.loggedOut(sessionID: sessionID)])
    }
}
