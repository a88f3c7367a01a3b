import AuthDomain
import EventLog
import Foundation

extension AuthService {
    /// Asks to move `userID`'s account to `newEmail`, given the current password: records
    /// `EmailChangeRequested`, mails a notice to the old address
    /// (``mailEmailChangeNotice(to:newEmail:)``, through ``sendNotices(for:to:)`` as every
    /// notice), then the confirmation token to the new address
    /// (``mailEmailChangeConfirmation(_:to:for:)``). While the account's notices of the last
    /// hour are used up, the command refuses the request
    /// (``Rejection/noticesUsedUp(retryAfter:)``): no change is asked for without its notice.
    /// The address and its claim move only on confirmation
    /// (``confirmEmailChange(token:correlationID:)``).
    ///
    /// An address that another account holds is refused at once (`email_taken`), once the
    /// password checked out: only someone who knows it learns which addresses are taken, as
    /// registration tells anyone. A wrong password records `LoginFailed`.
    public func requestEmailChange(
        userID: UUID, actor: Actor, currentPassword: String, newEmail raw: String, correlationID: String
    ) async throws {
        let newEmail = try EmailAddress(raw)
        let (matches, stored) = try await checkCurrentPassword(of: userID, currentPassword)
        if matches, let owner = try states.owner(ofEmail: newEmail), owner != userID {
            recordUnchangedLog()
            throw Rejection.emailTaken
        }
        let token = UserToken(userID: userID, secret: try secret())
        let user = try await execute(on: userID, actor: actor, correlationID: correlationID) { current in
            RequestEmailChange(
                actor: actor, currentPasswordMatches: matches && current.passwordHash == stored, newEmail: newEmail,
                tokenHash: token.secretHash, policy: self.configuration.rules)
        }
        // The request is recorded: mail that cannot be queued now must not turn it into an
        // error; asking again sends a new token.
        try? await mailEmailChangeConfirmation(token, to: newEmail.display, for: user)
    }

    /// Confirms a pending email change with the token mailed to the new address: records
    /// `EmailChanged` and moves the email claim (the new address claimed, the old released)
    /// in the same append. An address another account took meanwhile is `email_taken`.
    public func confirmEmailChange(token text: String, correlationID: String) async throws {
        guard let token = UserToken(parsing: text) else { throw Rejection.invalidToken }
        try await execute(
            on: token.userID, actor: .user(token.userID, .target), correlationID: correlationID,
            claims: { state in
                guard let pending = state.emailChange, let new = try? EmailAddress(pending.newEmail) else { return [] }
                var claims = [UniqueClaim(.claim, scope: EmailAddress.claimScope, key: new.claimKey)]
                if let old = try? EmailAddress(state.email) {
                    claims.append(UniqueClaim(.release, scope: EmailAddress.claimScope, key: old.claimKey))
                }
                return claims
            },
            command: { _ in ConfirmEmailChange(presented: token) })
    }

    /// The confirmation of an email change, to the new address (``MailKind/emailChange``):
    /// a link to the page that asks before it confirms, and the token.
    func mailEmailChangeConfirmation(_ token: UserToken, to newEmail: String, for user: UserState) async throws {
        try await mail(
            .emailChange, to: user, address: newEmail,
            [
                "new_email": newEmail, "token": token.text,
                "link": configuration.publicURL.url("/confirm-email-change?token=" + token.text),
                "hours": "\(configuration.rules.emailChangeTokenLifetime / 3_600_000_000)",
            ])
    }

    /// The notice of an email change, to the old address (``MailKind/emailChangeNotice``): no
    /// token, only what to do if it was not them. The new address is named only when the old
    /// one is verified: whoever asked chose it, and to an address not shown to be the
    /// account's it would be their words (an address can say a good deal) in a genuine mail.
    func mailEmailChangeNotice(to user: UserState, newEmail: String) async throws {
        try await mail(.emailChangeNotice, to: user, user.emailVerifiedAt == nil ? [:] : ["new_email": newEmail])
    }
}
