import AuthDomain
import AuthService
import Foundation
import Hummingbird

extension AuthServer {
    func addSessionRoutes(to router: Router<AuthRequestContext>) {
        self.onWrite(router, .post, "/v1/users") { request, context in
            try self.limitRegistration("register", context)
            let body = try await self.body(request, allowed: ["email", "password", "first_name", "last_name", "phone"])
            let user = try await self.service.register(
                .init(
                    email: try body.string("email"), password: try body.string("password"),
                    firstName: try body.string("first_name"), lastName: try body.string("last_name"),
                    phone: try body.optionalString("phone")),
                correlationID: context.requestID)
            return self.respond(user, status: .created)
        }
        self.onWrite(router, .post, "/v1/sessions") { request, context in
            try self.limit("login", context)
            let body = try await self.body(request, allowed: ["email", "password"])
            let grant = try await self.throttledLogin(
                email: try body.string("email"), password: try body.string("password"), context: context)
            return try self.accessToken(for: grant)
        }
        self.onWrite(router, .post, DirectWrites.refreshRoute, rotateRefreshToken)
        self.onWrite(router, .delete, "/v1/sessions/current") { request, context in
            let caller = try self.caller(request)
            try await self.service.logout(
                userID: caller.id, sessionID: caller.sessionID, actor: caller.actor,
                correlationID: context.requestID)
            return Response(status: .noContent)
        }
        // No Authlog-Position: the answer must not differ between known and unknown addresses.
        // Each request mails a token and replaces the live one, so an address asked for gets
        // `resetRequestsPerAccount` an hour from all clients together (keyed by the digest of
        // the address as given, known or not, as verification requests are): nobody floods a
        // mailbox, or keeps killing the owner's link, from many client addresses.
        self.on(router, .post, "/v1/password-resets") { request, context in
            try self.limitRegistration("reset", context)
            let body = try await self.body(request, allowed: ["email"])
            let email = try body.string("email")
            try self.throttle(self.resetRequests, Self.accountKey(email))
            try await self.service.requestPasswordReset(email: email, correlationID: context.requestID)
            return Response(status: .accepted)
        }
        self.onWrite(router, .post, "/v1/password-resets/confirm") { request, context in
            try self.limit("reset", context)
            let body = try await self.body(request, allowed: ["token", "new_password"])
            try await self.service.completePasswordReset(
                token: try body.string("token"), newPassword: try body.string("new_password"),
                correlationID: context.requestID)
            return Response(status: .noContent)
        }
        self.onWrite(router, .post, "/v1/email-verifications/confirm") { request, context in
            let body = try await self.body(request, allowed: ["token"])
            try await self.service.confirmEmail(
                token: try body.string("token"), correlationID: context.requestID)
            return Response(status: .noContent)
        }
    }

    /// `POST /v1/sessions/refresh`: a new refresh token for the one presented, and an access
    /// token. Also what ``DirectWrites`` runs for this route.
    @Sendable func rotateRefreshToken(_ request: Request, _ context: AuthRequestContext) async throws -> Response {
        try self.limit("refresh", context)
        let body = try await self.body(request, allowed: ["refresh_token"])
        let grant = try await self.service.rotate(
            refreshToken: try body.string("refresh_token"), correlationID: context.requestID)
        return try self.accessToken(for: grant)
    }
}
