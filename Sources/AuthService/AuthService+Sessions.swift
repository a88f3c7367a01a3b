import AuthDomain
import EventLog
import Foundation

extension AuthService {
    /// A signed-in session: the user, and the refresh token only the client ever sees.
    public struct SessionGrant: Sendable {
        public var user: UserState
        public var sessionID: UUID
        public var refreshToken: String
    }

    /// Signs in. Unknown email, wrong password, soft-deleted and locked users all get
    /// ``Rejection/invalidCredentials`` after the same password-hashing work.
    public func login(email: String, password typed: String, correlationID: String) async throws -> SessionGrant {
        let password = PasswordPolicy.normalized(typed)
        let id = try userID(forEmail: email)
        var state = try id.map { try load($0) }
        var verified = try await checkPassword(password, against: state)
        guard let id else {
            recordUnchangedLog()
            throw Rejection.invalidCredentials
        }
        for _ in 0..<configuration.maximumAttempts {
            guard let current = state else { break }
            // A concurrent login may have rehashed the password: check against what is stored now.
            if current.passwordHash != verified.against {
                verified = try await checkPassword(password, against: current)
            }
            let token = RefreshToken(userID: id, sessionID: UUID(), secret: try secret())
            let command = Login(
                passwordMatches: verified.matches, rehashedPassword: verified.rehash, sessionID: token.sessionID,
                refreshTokenHash: token.secretHash, policy: configuration.rules)
            do {
                let user = try await executeOnce(
                    on: id, from: current, actor: .user(id, current.role), correlationID: correlationID, command)
                return SessionGrant(user: user, sessionID: token.sessionID, refreshToken: token.text)
            } catch EventLogError.conflict {
                state = try load(id)  // the user changed meanwhile: decide again, hashing again only if needed
            }
        }
        throw Rejection.busy
    }

    /// Verifies `password` against the user's stored hash, or against the dummy hash when
    /// there is no live user, so both cost the same. Returns the hash it checked against.
    private func checkPassword(
        _ password: String, against state: UserState?
    ) async throws -> (matches: Bool, rehash: String?, against: String) {
        let hashing = configuration.hashing
        let stored = state.flatMap { $0.exists && !$0.isDeleted ? $0.passwordHash : nil }
        let dummy = dummyHash
        return try await pool.run {
            let result = try hashing.verify(password, against: stored ?? dummy)
            let matches = stored != nil && result.matches
            return (matches, matches && result.needsRehash ? try hashing.hash(password) : nil, stored ?? "")
        }
    }

    /// Trades a refresh token for a new one (see ``RotateRefreshToken`` for the rules).
    public func rotate(refreshToken text: String, correlationID: String) async throws -> SessionGrant {
        guard let presented = RefreshToken(parsing: text) else { throw Rejection.invalidToken }
        let next = RefreshToken(userID: presented.userID, sessionID: presented.sessionID, secret: try secret())
        let command = RotateRefreshToken(
            presented: presented, newTokenHash: next.secretHash, policy: configuration.rules)
        let user = try await execute(
            on: presented.userID, actor: .user(presented.userID, .target), correlationID: correlationID
        ) {
            _ in command
        }
        return SessionGrant(user: user, sessionID: next.sessionID, refreshToken: next.text)
    }

    /// Ends the caller's session.
    public func logout(userID: UUID, sessionID: UUID, actor: Actor, correlationID: String) async throws {
        try await execute(on: userID, actor: actor, correlationID: correlationID) { _ in Logout(sessionID: sessionID) }
    }
}
