import AuthDomain
import EventLog
import Foundation

extension AuthService {
    /// Mails a reset token if the address belongs to a live user. The caller learns nothing
    /// either way: this returns normally for unknown addresses too. `actor` is who asked: nobody
    /// signed in (the API), or an admin (the console).
    public func requestPasswordReset(email: String, actor: Actor = .anonymous, correlationID: String) async throws {
        guard let id = try userID(forEmail: email) else { return recordUnchangedLog() }
        let token = UserToken(userID: id, secret: try secret())
        let command = RequestPasswordReset(
            tokenHash: token.secretHash, policy: configuration.rules, limited: actor.asksUnsignedIn)
        let user = try await execute(on: id, actor: actor, correlationID: correlationID) { _ in command }
        // Mailed only when this token is the live one: none was issued for a deleted user or
        // past the account's hourly limit, whatever other events were appended meanwhile.
        guard user.passwordReset?.hash == token.secretHash else { return }
        try await mailReset(token, to: user)
    }

    /// Sets a new password with a reset token; ends every session of the user.
    public func completePasswordReset(token text: String, newPassword: String, correlationID: String) async throws {
        guard let token = UserToken(parsing: text) else { throw Rejection.invalidToken }
        let password = try configuration.passwordPolicy.check(newPassword)
        let hashing = configuration.hashing
        let hash = try await pool.run { try hashing.hash(password) }
        try await execute(on: token.userID, actor: .user(token.userID, .target), correlationID: correlationID) { _ in
            CompletePasswordReset(presented: token, newPasswordHash: hash)
        }
    }

    /// Changes the caller's password, given the current one; ends every session and mails the
    /// user a notice (``sendNotice(_:to:)``, sent for the recorded `PasswordChanged`). A wrong current password records
    /// `LoginFailed` and throws ``Rejection/invalidCredentials``.
    public func changePassword(
        userID: UUID, actor: Actor, currentPassword: String, newPassword: String, correlationID: String
    ) async throws {
        let password = try configuration.passwordPolicy.check(newPassword)
        let currentPassword = PasswordPolicy.normalized(currentPassword)
        let state = try load(userID)
        let hashing = configuration.hashing
        let stored = state.exists ? state.passwordHash : dummyHash
        let (matches, hash) = try await pool.run { () -> (Bool, String) in
            (try hashing.verify(currentPassword, against: stored).matches, try hashing.hash(password))
        }
        try await execute(on: userID, actor: actor, correlationID: correlationID) { current in
            // The password changed meanwhile: the check above no longer counts.
            ChangePassword(
                actor: actor, currentPasswordMatches: matches && current.passwordHash == stored, newPasswordHash: hash)
        }
    }

    /// Checks `given` (normalised) against the user's stored password hash on the hashing
    /// pool, a dummy hash for an unknown user so that the work is the same: whether it
    /// matched, and the hash it was checked against. A decision compares that hash with the
    /// current state's, so that a password changed meanwhile does not count.
    func checkCurrentPassword(of userID: UUID, _ given: String) async throws -> (matches: Bool, stored: String) {
        let given = PasswordPolicy.normalized(given)
        let state = try load(userID)
        let stored = state.exists ? state.passwordHash : dummyHash
        let hashing = configuration.hashing
        return (try await pool.run { try hashing.verify(given, against: stored).matches }, stored)
    }

    /// Confirms an email address with the token mailed at registration (or on request).
    public func confirmEmail(token text: String, correlationID: String) async throws {
        guard let token = UserToken(parsing: text) else { throw Rejection.invalidToken }
        try await execute(on: token.userID, actor: .user(token.userID, .target), correlationID: correlationID) { _ in
            ConfirmEmailVerification(presented: token)
        }
    }

    /// Mails a new verification token to `email` if it belongs to a live user whose address is
    /// not verified yet. The caller learns nothing either way: this returns normally for
    /// unknown, deleted and verified addresses too, having sent nothing.
    public func requestEmailVerification(email: String, correlationID: String) async throws {
        guard let id = try userID(forEmail: email) else { return recordUnchangedLog() }
        try await requestEmailVerification(userID: id, actor: .anonymous, correlationID: correlationID)
    }

    /// Mails a new verification token unless the address is already verified.
    public func requestEmailVerification(userID: UUID, actor: Actor, correlationID: String) async throws {
        let token = UserToken(userID: userID, secret: try secret())
        let user = try await execute(on: userID, actor: actor, correlationID: correlationID) { _ in
            RequestEmailVerification(
                tokenHash: token.secretHash, policy: self.configuration.rules, limited: actor.asksUnsignedIn)
        }
        // Mailed only when this token is the live one (see ``requestPasswordReset(email:actor:correlationID:)``).
        if user.emailVerification?.hash == token.secretHash { try await mailVerification(token, to: user) }
    }
}
