import Foundation

/// A log session the console holds: the user and the log session their console sign-in
/// started. Nothing but the console can use such a session (the console never gives its
/// refresh token out), so when the console lets go of it, it is ended in the log.
public struct ConsoleLogSession: Hashable, Sendable {
    public var user: UUID
    public var logSession: UUID

    public init(user: UUID, logSession: UUID) {
        self.user = user
        self.logSession = logSession
    }
}

/// Where the console keeps the log sessions it holds, so that the ones a crash leaves open
/// are ended when authd starts again (``AuthServer/endConsoleSessionsHeldBeforeStart()``).
///
/// Rules:
/// - ``save(_:)`` replaces what is kept with its argument, durably, before it returns; a
///   crash at any moment leaves the former list or the new one.
/// - ``load()`` returns what the last ``save(_:)`` kept (nothing when none did), and throws
///   when what is kept cannot be trusted or read.
public protocol ConsoleHeldSessionStore: Sendable {
    func load() throws -> [ConsoleLogSession]
    func save(_ held: [ConsoleLogSession]) throws
}

extension AdminConsole {
    /// Saves the log sessions the console holds now (``ConsoleSessions/held()``) to its store,
    /// if it has one. Saves are one at a time, each of the list as it is when its turn comes,
    /// so the last one kept is never older than one before it.
    func keepHeldSessions() throws {
        guard let heldStore else { return }
        try saving.withLock { _ in try heldStore.save(sessions.held()) }
    }
}
