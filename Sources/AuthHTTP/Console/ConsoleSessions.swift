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
/// - Every signed-in session that ends, however it ends (sign-out, idle, lifetime, dropped
///   from a full table, replaced by a sign-in in the same browser, refused by the user's
///   state, authd stopping: ``endAll()``), hands its log session over once through
///   ``takeEnded()``: nobody else holds that log session's refresh token (the console never
///   gives it out), so it is ended in the log if it is still the account's current one
///   (``AuthServer/endEndedConsoleSessions()``). Up to ``capacity`` wait there, in the order
///   they were handed over; past that the first handed over are forgotten (their log sessions
///   then end only at their own lifetime).
/// - ``held()`` lists every log session the console holds: signed in, or handed over and not
///   yet ``handled(_:)``. It is what ``AdminConsole/keepHeldSessions()`` keeps across a crash.
final class ConsoleSessions: Sendable {
    struct Session: Sendable {
        var csrf: String
        var user: UUID?
        var logSession: UUID?
        var lastSeen: ContinuousClock.Instant
        /// When it was opened (a sign-in opens a new one).
        var opened: ContinuousClock.Instant
    }

    /// A signed-in session that ended: the user and the log session its sign-in started.
    typealias Ended = ConsoleLogSession

    let idleTimeout: Duration
    let lifetime: Duration
    let capacity: Int
    private let clock: @Sendable () -> ContinuousClock.Instant
    private struct Tables {
        /// Sessions waiting for a sign-in (`user` nil), by the SHA-256 of their cookie.
        var waiting: [TokenHash: Session] = [:]
        /// Signed-in sessions, by the SHA-256 of their cookie.
        var signedIn: [TokenHash: Session] = [:]
        /// Signed-in sessions that ended, in the order they were handed over, not yet taken by
        /// ``takeEnded()``.
        var ended: [Ended] = []
        /// Those taken by ``takeEnded()`` and neither ``handled(_:)`` nor given back yet.
        var taken: [Ended] = []

        /// Hands `session`'s log session over, if it is a signed-in one.
        mutating func end(_ session: Session, capacity: Int) {
            guard let user = session.user, let logSession = session.logSession else { return }
            if ended.count >= capacity { ended.removeFirst(ended.count - capacity + 1) }
            ended.append(Ended(user: user, logSession: logSession))
        }
    }
    private let tables = Mutex(Tables())

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
                for dropped in makeRoom(in: &tables.signedIn, dropping: 1) { tables.end(dropped, capacity: capacity) }
                tables.signedIn[key] = session
            }
        }
        return (cookie, session)
    }

    /// Below ``capacity`` again, if `table` is full: the sessions that ended go, then the
    /// `count` least recently used (a tenth at once keeps a flood of new ones from sorting the
    /// table at each).
    /// Returns the sessions it removed, least recently used first.
    @discardableResult
    private func makeRoom(in table: inout [TokenHash: Session], dropping count: Int) -> [Session] {
        guard table.count >= capacity else { return [] }
        let now = clock()
        var removed = table.values.filter { !isLive($0, at: now) }.sorted { $0.lastSeen < $1.lastSeen }
        table = table.filter { isLive($0.value, at: now) }
        guard table.count >= capacity else { return removed }
        let oldest = table.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(
            max(count, table.count - capacity + 1))
        for (key, session) in oldest {
            table.removeValue(forKey: key)
            removed.append(session)
        }
        return removed
    }

    /// The signed-in session (`signedIn`) or the session waiting for a sign-in of `cookie`, if
    /// it has not ended, marked used now.
    func session(_ cookie: String?, signedIn: Bool) -> Session? {
        guard let cookie, !cookie.isEmpty, cookie.utf8.count <= 64 else { return nil }
        let key = TokenHash(of: Array(cookie.utf8))
        return tables.withLock { tables in
            let now = clock()
            guard var session = signedIn ? tables.signedIn[key] : tables.waiting[key] else { return nil }
            guard isLive(session, at: now) else {
                if signedIn {
                    tables.signedIn.removeValue(forKey: key)
                    tables.end(session, capacity: capacity)
                } else {
                    tables.waiting.removeValue(forKey: key)
                }
                return nil
            }
            session.lastSeen = now
            if signedIn { tables.signedIn[key] = session } else { tables.waiting[key] = session }
            return session
        }
    }

    /// Ends the signed-in session (`signedIn`) or the session waiting for a sign-in of `cookie`.
    func close(_ cookie: String?, signedIn: Bool) {
        guard let cookie else { return }
        let key = TokenHash(of: Array(cookie.utf8))
        tables.withLock { tables in
            if signedIn {
                if let session = tables.signedIn.removeValue(forKey: key) { tables.end(session, capacity: capacity) }
            } else {
                tables.waiting.removeValue(forKey: key)
            }
        }
    }

    /// The signed-in sessions that ended since the last call (those past their idle timeout or
    /// lifetime are removed now), each once, in the order they were handed over.
    func takeEnded() -> [Ended] {
        tables.withLock { tables in
            let now = clock()
            let over = tables.signedIn.filter { !isLive($0.value, at: now) }
            for (key, session) in over.sorted(by: { $0.value.lastSeen < $1.value.lastSeen }) {
                tables.signedIn.removeValue(forKey: key)
                tables.end(session, capacity: capacity)
            }
            defer {
                tables.taken += tables.ended
                tables.ended = []
            }
            return tables.ended
        }
    }

    /// Forgets `done`, taken by ``takeEnded()``: their log sessions are ended.
    func handled(_ done: [Ended]) {
        let done = Set(done)
        tables.withLock { tables in tables.taken.removeAll { done.contains($0) } }
    }

    /// The log sessions the console holds: those of the signed-in sessions (oldest sign-in
    /// first), then those handed over and not yet ``handled(_:)``, each once.
    func held() -> [Ended] {
        tables.withLock { tables in
            let signedIn = tables.signedIn.values.sorted { $0.opened < $1.opened }.compactMap { session in
                session.user.flatMap { user in session.logSession.map { Ended(user: user, logSession: $0) } }
            }
            var seen = Set<Ended>()
            return (signedIn + tables.taken + tables.ended).filter { seen.insert($0).inserted }
        }
    }

    /// Ends every signed-in session (authd is stopping: a restart signs everyone out); their
    /// log sessions are then handed over by ``takeEnded()``. Sessions waiting for a sign-in go.
    func endAll() {
        tables.withLock { tables in
            for session in tables.signedIn.values.sorted(by: { $0.lastSeen < $1.lastSeen }) {
                tables.end(session, capacity: capacity)
            }
            tables.signedIn = [:]
            tables.waiting = [:]
        }
    }

    /// Hands `ended` back (their log sessions could not be ended now, or authd found them held
    /// when it started), before any that ended since, within ``capacity`` (the first of them
    /// are forgotten past it).
    func giveBack(_ ended: [Ended]) {
        let back = Set(ended)
        tables.withLock { tables in
            tables.taken.removeAll { back.contains($0) }
            tables.ended = Array((ended + tables.ended.filter { !back.contains($0) }).suffix(capacity))
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
