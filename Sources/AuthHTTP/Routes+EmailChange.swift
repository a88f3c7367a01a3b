import AuthDomain
import AuthService
import Foundation
import Hummingbird

extension AuthServer {
    /// Changing one's email address, in two steps:
    /// - `POST /v1/users/me/email` with `{"new_email", "current_password"}`: the password is
    ///   checked under the login's throttling (``throttlingWrongPasswords(account:context:_:)``);
    ///   202 once `EmailChangeRequested` is recorded and the new address is mailed a token,
    ///   the old one a notice. 409 `email_taken` when another account holds the new address.
    ///   Each mails two addresses, so one new address may be named
    ///   ``Configuration/emailChangesPerAddress`` times an hour from all accounts together,
    ///   and one account may ask ``Configuration/emailChangesPerAccount`` times an hour: past
    ///   either, 429 with Retry-After and nothing recorded or mailed. Only a request whose
    ///   password was right and that recorded its event counts. Also 429 with Retry-After
    ///   while the account's notices of the last hour are used up
    ///   (``Rejection/noticesUsedUp(retryAfter:)``): the old address's notice is the owner's
    ///   warning, and no change is asked for without it.
    /// - `POST /v1/email-changes/confirm` with `{"token"}`: 204 once `EmailChanged` is recorded
    ///   and the email claim moved in the same append; 409 `email_taken` when another account
    ///   took the address meanwhile; 401 `invalid_token` for a token that is not the live one.
    func addEmailChangeRoutes(to router: Router<AuthRequestContext>) {
        self.onWrite(router, .post, "/v1/users/me/email") { request, context in
            let caller = try self.caller(request)
            try self.limit("email", context)
            let body = try await self.body(request, allowed: ["new_email", "current_password"])
            let (newEmail, password) = (try body.string("new_email"), try body.string("current_password"))
            guard let user = try self.reads.user(id: caller.id, includePersonal: true) else {
                throw Problem.unauthorized
            }
            let (to, by) = (Self.accountKey(newEmail), TokenHash(of: Array("user \(caller.id.uuidString)".utf8)))
            try self.throttle(self.emailChangesBy, by)
            do {
                try self.throttle(self.emailChangesTo, to)
            } catch {
                self.emailChangesBy.refund(by)
                throw error
            }
            do {
                try await self.throttlingWrongPasswords(account: Self.accountKey(user.email), context: context) {
                    try await self.service.requestEmailChange(
                        userID: caller.id, actor: caller.actor, currentPassword: password, newEmail: newEmail,
                        correlationID: context.requestID)
                }
            } catch {
                // Nothing recorded, nothing mailed: the request does not count.
                self.emailChangesTo.refund(to)
                self.emailChangesBy.refund(by)
                throw error
            }
            return Response(status: .accepted)
        }
        self.onWrite(router, .post, "/v1/email-changes/confirm") { request, context in
            try self.limit("email", context)
            let body = try await self.body(request, allowed: ["token"])
            try await self.service.confirmEmailChange(token: try body.string("token"), correlationID: context.requestID)
            return Response(status: .noContent)
        }
    }
}
