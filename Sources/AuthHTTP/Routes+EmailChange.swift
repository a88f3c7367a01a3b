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
            try await self.throttlingWrongPasswords(account: Self.accountKey(user.email), context: context) {
                try await self.service.requestEmailChange(
                    userID: caller.id, actor: caller.actor, currentPassword: password, newEmail: newEmail,
                    correlationID: context.requestID)
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
