import AuthDomain
import AuthService
import Foundation
import Hummingbird

extension AuthServer {
    /// `POST /v1/email-verifications` with `{"email"}`: asks for a new verification mail.
    /// Rules:
    /// - the answer is 202 with no body and no `Authlog-Position` whether the address has an
    ///   account, is verified already, or was sent anything: nothing in it tells them apart;
    /// - a client address gets ``Configuration/registrationRateLimitPerMinute`` requests a
    ///   minute, as for password-reset requests;
    /// - an address asked for gets ``Configuration/verificationRequestsPerAccount`` requests an
    ///   hour from all clients together, so nobody can flood a mailbox. It is keyed by the
    ///   digest of the address as given, known or not, so its 429 tells nothing either.
    func addVerificationRequestRoutes(to router: Router<AuthRequestContext>) {
        self.on(router, .post, "/v1/email-verifications") { request, context in
            try self.limitRegistration("verify", context)
            let body = try await self.body(request, allowed: ["email"])
            let email = try body.string("email")
            try self.throttle(self.verificationRequests, Self.accountKey(email))
            try await self.service.requestEmailVerification(email: email, correlationID: context.requestID)
            return Response(status: .accepted)
        }
    }
}
