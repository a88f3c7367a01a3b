import AuthDomain
import AuthService
import Foundation
import Hummingbird

extension AuthServer {
    /// The Stripe customer id of a user: linked and unlinked by an ADMIN or a credential with
    /// `stripe:link`. The id is unique
    /// across users (409 `stripe_customer_taken`); `GET /v1/users?stripe_customer_id=` finds its
    /// user (see ``addUserRoutes(to:)``).
    func addStripeRoutes(to router: Router<AuthRequestContext>) {
        self.onWrite(router, .put, "/v1/users/:id/stripe-customer") { request, context in
            let caller = try self.principal(request)
            let id = try self.user(context.parameters.get("id"))
            let body = try await self.body(request, allowed: ["stripe_customer_id"])
            let user = try await self.service.linkStripeCustomer(
                of: id, customerID: try body.string("stripe_customer_id"), actor: caller.actor,
                correlationID: context.requestID)
            return self.respond(user)
        }
        self.onWrite(router, .delete, "/v1/users/:id/stripe-customer") { request, context in
            let caller = try self.principal(request)
            let id = try self.user(context.parameters.get("id"))
            try await self.service.unlinkStripeCustomer(of: id, actor: caller.actor, correlationID: context.requestID)
            return Response(status: .noContent)
        }
    }
}
