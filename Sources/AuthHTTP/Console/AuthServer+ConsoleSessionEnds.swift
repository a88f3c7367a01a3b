import AuthDomain
import Foundation
import Synchronization

/// The log sessions of console sessions that ended.
///
/// Rules:
/// - A console sign-in starts the account's one log session and never gives its refresh token
///   out, so when the console session ends, however it ends (``ConsoleSessions``), nothing can
///   use the log session any more: it is ended in the log too, `LoggedOut` with the service
///   as actor (`system`), so an audit shows when the admin's session stopped.
/// - Only a log session that is still the account's current one is ended: one already ended
///   (the sign-out records its own `LoggedOut`, the user as actor) or replaced by a later
///   sign-in anywhere gets no event, so the sweep never ends a session the console did not
///   start.
/// - authd calls ``endEndedConsoleSessions()`` every ``AdminConsole/sweepInterval``, so a log
///   session ends at most that long after its console session. Those the log cannot take at
///   the time (a shared log unreachable) wait for the next call. A restart forgets the
///   console's sessions: their log sessions then end only at their own lifetime.
/// - `authlog_console_sessions_ended_total` counts the ended console sessions handled.
extension AuthServer {
    /// Ends the log sessions of the console sessions that ended since the last call; returns
    /// how many console sessions it handled (a log session found already ended counts).
    @discardableResult
    public func endEndedConsoleSessions() async -> Int {
        guard let console else { return 0 }
        let ended = console.sessions.takeEnded()
        var handled = 0
        for session in ended {
            do {
                try await service.logout(
                    userID: session.user, sessionID: session.logSession, actor: .system,
                    correlationID: requestIDs.correlationID(client: nil))
                handled += 1
            } catch {
                console.sessions.giveBack(Array(ended[handled...]))
                logger.error(
                    "the log sessions of ended console sessions could not be ended now",
                    metadata: ["waiting": "\(ended.count - handled)", "error": "\(error)"])
                break
            }
        }
        consoleSessionsEnded.add(handled, ordering: .relaxed)
        return handled
    }

    /// Calls ``endEndedConsoleSessions()`` every ``AdminConsole/sweepInterval`` until the task
    /// is cancelled; returns at once when no console is served.
    public func endConsoleSessionsAsTheyEnd() async {
        guard let console else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: console.sweepInterval)
            guard !Task.isCancelled else { return }
            await endEndedConsoleSessions()
        }
    }
}
