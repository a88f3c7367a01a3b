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
///   (the sign-out records its own `LoggedOut`, the user as actor; a role change, a reset or
///   a soft-delete ends every session) or replaced by a later sign-in anywhere gets no event,
///   so the sweep never ends a session the console did not start.
/// - authd calls ``endEndedConsoleSessions()`` every ``AdminConsole/sweepInterval``, so a log
///   session ends about that long after its console session; those the log cannot take at the
///   time (a shared log unreachable) wait for a later call. When authd stops gracefully, every
///   console session ends (a restart signs everyone out) and their log sessions are ended
///   before the log closes (``endConsoleSessionsAtStop()``); after a crash they end only at
///   their own lifetime.
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

    /// Ends every console session and, as ``endEndedConsoleSessions()`` does, their log
    /// sessions: for authd's graceful stop, before the log closes. Returns how many it handled.
    @discardableResult
    public func endConsoleSessionsAtStop() async -> Int {
        console?.sessions.endAll()
        return await endEndedConsoleSessions()
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
