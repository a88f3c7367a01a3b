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
/// - A session unused for ``idleTimeout`` is gone; so is the oldest one when the table holds
///   ``capacity`` of them.
final class ConsoleSessions: Sendable {
    struct Session: Sendable {
        var csrf: String
        var user: UUID?
        var logSession: UUID?
        var lastSeen: ContinuousClock.Instant
    }

    let idleTimeout: Duration
    let capacity: Int
    private let table = Mutex<[TokenHash: Session]>([:])

    init(idleTimeout: Duration, capacity: Int = 10_000) {
        self.idleTimeout = idleTimeout
        self.capacity = capacity
    }

    /// 32 random bytes as base64url.
    static func randomToken() throws -> String {
        Base64URL.encode(try SecureBytes.random(32))
    }

    /// A new session (waiting for a sign-in unless `user` is given); returns its cookie value.
    func open(user: UUID? = nil, logSession: UUID? = nil) throws -> (cookie: String, session: Session) {
        let cookie = try Self.randomToken()
        let session = Session(csrf: try Self.randomToken(), user: user, logSession: logSession, lastSeen: .now)
        table.withLock { table in
            let now = ContinuousClock.now
            if table.count >= capacity {
                table = table.filter { now - $0.value.lastSeen < idleTimeout }
                if table.count >= capacity, let oldest = table.min(by: { $0.value.lastSeen < $1.value.lastSeen }) {
                    table.removeValue(forKey: oldest.key)
                }
            }
            table[TokenHash(of: Array(cookie.utf8))] = session
        }
        return (cookie, session)
    }

    /// The session of `cookie` if it has not idled out, marked used now.
    func session(_ cookie: String?) -> Session? {
        guard let cookie, !cookie.isEmpty, cookie.utf8.count <= 64 else { return nil }
        let key = TokenHash(of: Array(cookie.utf8))
        return table.withLock { table in
            guard var session = table[key] else { return nil }
            let now = ContinuousClock.now
            guard now - session.lastSeen < idleTimeout else {
                table.removeValue(forKey: key)
                return nil
            }
            session.lastSeen = now
            table[key] = session
            return session
        }
    }

    func close(_ cookie: String?) {
        guard let cookie else { return }
        _ = table.withLock { $0.removeValue(forKey: TokenHash(of: Array(cookie.utf8))) }
    }

    /// Whether `given` is the session's CSRF token (compared in time independent of where they differ).
    static func matches(_ given: String?, _ expected: String) -> Bool {
        guard let given else { return false }
        let (a, b) = (Array(given.utf8), Array(expected.utf8))
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
