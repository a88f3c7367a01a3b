import AuthDomain
import EventLog
import Foundation
import Synchronization

/// The admin console authd serves under `/admin` (docs/operations.md, "The admin console"):
/// what it reads beyond ``UserReads`` and its own state. Given to ``AuthServer`` by authd;
/// without one, `/admin` is not served.
public final class AdminConsole: Sendable {
    /// Finds users (email prefix, id, phone, Stripe id; filters, order, pages).
    let directory: any UserDirectory
    /// The log page's figures and its verification.
    let logSource: any ConsoleLogSource
    let sessions: ConsoleSessions
    let templates: ConsoleTemplates
    /// The last verification run from the console, and whether one is running.
    let lastVerification = Mutex<VerificationRecord?>(nil)
    let verifying = Atomic<Bool>(false)
    /// Where the log sessions the console holds are kept across a crash (none: not kept).
    let heldStore: (any ConsoleHeldSessionStore)?
    /// Taken by each save to ``heldStore``.
    let saving = Mutex(())

    /// One verification's outcome, as the log page shows it.
    struct VerificationRecord: Sendable {
        var intact: Bool
        var summary: String
        var finishedAt: Timestamp
        var seconds: Double
    }

    /// `idleTimeout`: a console session unused this long is ended (15 minutes by default);
    /// `sessionLifetime`: one opened this long ago is ended however busy (8 hours);
    /// `heldSessions`: where the log sessions of signed-in console sessions are kept, so that
    /// those a crash leaves open are ended at the next start (nil: they end only at their own
    /// lifetime).
    public init(
        directory: any UserDirectory, log: any ConsoleLogSource, idleTimeout: Duration = .seconds(15 * 60),
        sessionLifetime: Duration = .seconds(8 * 60 * 60), templates: ConsoleTemplates = .builtIn,
        heldSessions: (any ConsoleHeldSessionStore)? = nil
    ) {
        self.directory = directory
        self.logSource = log
        self.heldStore = heldSessions
        self.sessions = ConsoleSessions(idleTimeout: idleTimeout, lifetime: sessionLifetime)
        self.templates = templates
    }

    /// How often authd ends the log sessions of console sessions that ended
    /// (``AuthServer/endEndedConsoleSessions()``): a quarter of the shorter of the idle timeout
    /// and the lifetime, but at least 1 second and at most 60 (60 s with the defaults).
    public var sweepInterval: Duration {
        let quarter = min(sessions.idleTimeout, sessions.lifetime) / 4
        return min(max(quarter, .seconds(1)), .seconds(60))
    }
}
