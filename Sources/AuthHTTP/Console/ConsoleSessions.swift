import AuthDomain
import EventLog
import Foundation
import PasswordHashing
import Synchronization

/// The admin console's browser sessions, in memory: a restart signs everyone out.
///
/// Rules:
/// - The cookie holds 32 random bytes (base64url); the table is keyed by their SHA-256, so it
///   holds nothing a cookie could be made from.
/// - A session is either waiting for a sign-in (it carries only the sign-in form's CSRF
///   token) or signed in: then it names the user and the log session their sign-in started,
///   and the user's current state must still accept that session on every request (a
///   logout, a role change, a soft-delete or a reset elsewhere ends it).
/// - Every session has its own CSRF token, made with it; a sign-in makes a new cookie and a
///   new token (the one the browser had before the sign-in is forgotten).
/// - A session unused for ``idleTimeout`` is gone, and so is one opened ``lifetime`` ago,
///   however busy: a stolen or forgotten cookie does not last for as long as it is used.
/// - Sessions waiting for a sign-in and signed-in ones are kept apart, each up to
///   ``capacity``, and each is found and closed only as its own kind (their cookies differ
///   too): anyone can open a waiting session (every `GET /admin/login` without the form's
///   cookie does), so a full waiting table drops its least recently used tenth, never a
///   signed-in session; a full signed-in table (only sign-ins with an ADMIN's or a MANAGER's
///   password add to it) drops its least recently used one.
final class ConsoleSessions: Sendable {
    struct Session: Sendable {
        var csrf: String
        var user: UUID?
        var logSession: UUID?
        var lastSeen: ContinuousClock.Instant
        /// When it was opened (a sign-in opens a new one).
        var opened: ContinuousClock.Instant
    }

    let idleTimeout: Duration
    let lifetime: Duration
    let capacity: Int
    private let clock: @Sendable () -> ContinuousClock.Instant
    /// Waiting sessions (`user` nil) and signed-in ones, by the SHA-256 of their cookie.
    private let tables = Mutex<(waiting: [TokenHash: Session], signedIn: [TokenHash: Session])>(([:], [:]))

    /// The clock is injected (by default the continuous clock).
    init(
        idleTimeout: Duration, lifetime: Duration, capacity: Int = 10_000,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.idleTimeout = idleTimeout
        self.lifetime = lifetime
        self.capacity = capacity
        self.clock = clock
    }

    /// Whether `session` is still alive at `now`.
    private func isLive(_ session: Session, at now: ContinuousClock.Instant) -> Bool {
        now - session.lastSeen < idleTimeout && now - session.opened < lifetime
    }

    /// 32 random bytes as base64url.
    static func randomToken() throws -> String {
        Base64URL.encode(try SecureBytes.random(32))
    }

    /// A new session (waiting for a sign-in unless `user` is given); returns its cookie value.
    func open(user: UUID? = nil, logSession: UUID? = nil) throws -> (cookie: String, session: Session) {
        let cookie = try Self.randomToken()
        let now = clock()
        let session = Session(
            csrf: try Self.randomToken(), user: user, logSession: logSession, lastSeen: now, opened: now)
        let key = TokenHash(of: Array(cookie.utf8))
        tables.withLock { tables in
            if user == nil {
                makeRoom(in: &tables.waiting, dropping: max(1, capacity / 10))
                tables.waiting[key] = session
            } else {
                makeRoom(in: &tables.signedIn, dropping: 1)
                tables.signedIn[key] = session
            }
        }
        return (cookie, session)
    }

    /// Below ``capacity`` again, if `table` is full: the sessions that ended go, then the
    /// `count` least recently used (a tenth at once keeps a flood of new ones from sorting the
    /// table at each).
    private func makeRoom(in table: inout [TokenHash: Session], dropping count: Int) {
        guard table.count >= capacity else { return }
        let now = clock()
        table = table.filter { isLive($0.value, at: now) }
        guard table.count >= capacity else { return }
        let oldest = table.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(
            max(count, table.count - capacity + 1))
        for (key, _) in oldest { table.removeValue(forKey: key) }
    }

    /// The signed-in session (`signedIn`) or the session waiting for a sign-in of `cookie`, if
    /// it has not ended, marked used now.
    func session(_ cookie: String?, signedIn: Bool) -> Session? {
        guard let cookie, !cookie.isEmpty, cookie.utf8.count <= 64 else { return nil }
        let key = TokenHash(of: Array(cookie.utf8))
        return tables.withLock { tables in
            let now = clock()
            func use(_ table: inout [TokenHash: Session]) -> Session? {
                guard var session = table[key] else { return nil }
                guard isLive(session, at: now) else {
                    table.removeValue(forKey: key)
                    return nil
                }
                session.lastSeen = now
                table[key] = session
                return session
            }
            return signedIn ? use(&tables.signedIn) : use(&tables.waiting)
        }
    }

    /// Ends the signed-in session (`signedIn`) or the session waiting for a sign-in of `cookie`.
    func close(_ cookie: String?, signedIn: Bool) {
        guard let cookie else { return }
        let key = TokenHash(of: Array(cookie.utf8))
        tables.withLock { tables in
            if signedIn {
                tables.signedIn.removeValue(forKey: key)
            } else {
                tables.waiting.removeValue(forKey: key)
            }
        }
    }

    /// Whether `given` is the session's CSRF token (compared in time independent of where they differ).
    static func matches(_ given: String?, _ expected: String) -> Bool {
        guard let given else { return false }
        let (a, b) = (Array(given.utf8), Array(expected.utf8))
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
