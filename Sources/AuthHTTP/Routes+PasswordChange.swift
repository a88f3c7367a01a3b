import AuthDomain
import AuthService
import Foundation
import Hummingbird

extension AuthServer {
    /// `POST /v1/users/me/password`: the caller changes their own password with the current
    /// one. Rules:
    /// - the current password is checked under the login's throttling (the same buckets, keyed
    ///   by the account's email: ``throttlingWrongPasswords(account:context:_:)``), so a stolen
    ///   access token cannot guess it faster than a login could; a wrong one is 401
    ///   `invalid_credentials` and records `LoginFailed`;
    /// - success records `PasswordChanged`, ends the session and moves `tokens_valid_after`
    ///   (the caller's own token stops working: they log in again) and mails a notice;
    /// - the new password meets the password policy (422 `weak_password`).
    func addPasswordChangeRoutes(to router: Router<AuthRequestContext>) {
        self.onWrite(router, .post, "/v1/users/me/password") { request, context in
            let caller = try self.caller(request)
            try self.limit("password", context)
            let body = try await self.body(request, allowed: ["current_password", "new_password"])
            let (current, new) = (try body.string("current_password"), try body.string("new_password"))
            guard let user = try self.reads.user(id: caller.id, includePersonal: true) else {
                throw Problem.unauthorized
            }
            try await self.throttlingWrongPasswords(account: Self.accountKey(user.email), context: context) {
                try await self.service.changePassword(
                    userID: caller.id, actor: caller.actor, currentPassword: current, newPassword: new,
                    correlationID: context.requestID)
            }
            return Response(status: .noContent)
        }
    }
}
