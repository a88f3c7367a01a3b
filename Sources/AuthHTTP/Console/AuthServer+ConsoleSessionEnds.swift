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
///   before the log closes (``endConsoleSessionsAtStop()``).
/// - With a store for them (``AdminConsole/heldStore``), the log sessions the console holds
///   are kept there at every sign-in (before its answer; a sign-in they cannot be kept for is
///   refused, 503, and its log session ended) and after every call that ended some (the one
///   at a graceful stop included). After a
///   crash, authd hands those kept to the sweep as it starts
///   (``endConsoleSessionsHeldBeforeStart()``), and they are ended as any other; a log
///   session started by a sign-in that crashed before it was kept ends at its own lifetime.
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
        console.sessions.handled(Array(ended[..<handled]))
        consoleSessionsEnded.add(handled, ordering: .relaxed)
        if handled > 0 { keepHeldConsoleSessions(console) }
        return handled
    }

    /// Hands the log sessions the console's store kept (those a crash left open) to the sweep,
    /// which ends them as it ends any other; returns how many. authd calls it once, as it
    /// starts, before it serves. A store that cannot be read is logged and left as it is,
    /// until the next save replaces it.
    @discardableResult
    public func endConsoleSessionsHeldBeforeStart() -> Int {
        guard let console, let store = console.heldStore else { return 0 }
        let held: [ConsoleLogSession]
        do { held = try store.load() } catch {
            logger.error(
                "the log sessions the console held before this start could not be read; they end at their own lifetime",
                metadata: ["error": "\(error)"])
            return 0
        }
        console.sessions.giveBack(held)
        if !held.isEmpty {
            logger.info(
                "console sessions held before this start are handed to the sweep to be ended",
                metadata: ["sessions": "\(held.count)"])
        }
        return held.count
    }

    /// Saves the log sessions the console holds; a failure is logged (the next save tries
    /// again).
    func keepHeldConsoleSessions(_ console: AdminConsole) {
        do { try console.keepHeldSessions() } catch {
            logger.error("the log sessions the console holds could not be kept", metadata: ["error": "\(error)"])
        }
    }

    /// Ends every console session and, as ``endEndedConsoleSessions()`` does, their log
    /// sessions: for authd's graceful stop, before the log closes. Returns how many it handled.
    @discardableResult
    public func endConsoleSessionsAtStop() async -> Int {
        // The list kept holds every one of them already; the sweep saves it again when it ended
        // some, and those the log could not take wait in it for the next start.
        console?.sessions.endAll()
        return await endEndedConsoleSessions()
    }

    /// Calls ``endEndedConsoleSessions()`` at once and then every ``AdminConsole/sweepInterval``
    /// until the task is cancelled; returns at once when no console is served.
    public func endConsoleSessionsAsTheyEnd() async {
        guard let console else { return }
        while !Task.isCancelled {
            await endEndedConsoleSessions()
            try? await Task.sleep(for: console.sweepInterval)
        }
    }
}
