import EventLog
import Foundation

/// Asks to move the account to another address, for a signed-in user who gave their current
/// password. The handler mails the token to the new address and a notice to the old one; the
/// address and its uniqueness claim stay as they are until ``ConfirmEmailChange``.
///
/// Rules:
/// - only the user themselves (an ADMIN cannot move someone's address this way);
/// - a wrong current password is rejected and recorded as `LoginFailed`, as at login;
/// - the new address must differ from the current one (as a lookup key);
/// - its notice to the current address is one of the account's notices (at most
///   ``UserState/noticesMailedPerHour`` in any hour): when the hour's are used up, the request
///   is refused (``Rejection/noticesUsedUp(retryAfter:)``) and nothing is recorded, so no
///   change is ever asked for without its notice, however the hour was filled;
/// - a new request replaces a pending one (its token stops working).
public struct RequestEmailChange: UserCommand {
    public var actor: Actor
    public var currentPasswordMatches: Bool
    public var newEmail: EmailAddress
    public var tokenHash: TokenHash
    public var policy: AuthPolicy

    public init(
        actor: Actor, currentPasswordMatches: Bool, newEmail: EmailAddress, tokenHash: TokenHash,
        policy: AuthPolicy = AuthPolicy()
    ) {
        self.actor = actor
        self.currentPasswordMatches = currentPasswordMatches
        self.newEmail = newEmail
        self.tokenHash = tokenHash
        self.policy = policy
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted else { return .reject(.notFound) }
        guard actor.isUser(state.id) else { return .reject(.forbidden) }
        guard currentPasswordMatches else { return .wrongCurrentPassword(state) }
        guard (try? EmailAddress(state.email))?.lookupKey != newEmail.lookupKey else {
            return .reject(.invalidField(field: "new_email", reason: "it is the account's address already"))
        }
        let wait = state.secondsUntilANoticeIsFree(at: now)
        guard wait == 0 else { return .reject(.noticesUsedUp(retryAfter: wait)) }
        let expires = now.adding(microseconds: policy.emailChangeTokenLifetime)
        return .accept([
            .emailChangeRequested(.init(newEmail: newEmail.display, tokenHash: tokenHash, expiresAt: expires))
        ])
    }
}

/// Confirms a pending email change with the token mailed to the new address: single use,
/// before it expires. The handler moves the email claim (claims the new address, releases
/// the old) in the append's transaction: an address taken meanwhile fails the append as
/// `email_taken`, and nothing is recorded.
public struct ConfirmEmailChange: UserCommand {
    public var presented: UserToken

    public init(presented: UserToken) {
        self.presented = presented
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard state.exists, !state.isDeleted, let pending = state.emailChange, now < pending.token.expiresAt,
            presented.secretHash == pending.token.hash
        else { return .reject(.invalidToken) }
        return .accept([.emailChanged(email: pending.newEmail)])
    }
}
