import AuthDomain
import AuthService
import EventLog
import Foundation
import Hummingbird

extension AuthServer {
    func addUserRoutes(to router: Router<AuthRequestContext>) {
        self.onRead(router, "/v1/users/me") { request, _ in
            try self.respond(self.ownUser(authorization: request.headers[.authorization]))
        }
        self.onRead(router, "/v1/users/:id") { request, context in
            try self.respond(
                self.user(
                    context.parameters.get("id"), authorization: request.headers[.authorization],
                    asOf: request.uri.queryParameters.get("as_of")))
        }
        self.onRead(router, "/v1/users") { request, context in
            // Whom a found user is shown to, in every answer: a credential sees no erased user,
            // a person only as ReadRules lets their role (ADMIN alone sees them).
            let shows: (UserState) -> Bool
            switch try self.principal(request) {
            case .credential(let credential):
                guard ReadRules.mayList(scopes: credential.scopes) else { throw Rejection.insufficientScope }
                shows = ReadRules.showsToCredential
            case .user(let caller):
                guard ReadRules.mayList(role: caller.role) else { throw Rejection.forbidden }
                shows = { ReadRules.shows($0, to: caller.role) }
            }
            let query = request.uri.queryParameters
            if let email = query.get("email") {
                let users = try self.reads.user(email: email).map { [$0] } ?? []
                return self.page(users.filter(shows), next: nil)
            }
            if let customer = query.get("stripe_customer_id") {
                let users = try self.reads.user(stripeCustomerID: customer).map { [$0] } ?? []
                return self.page(users.filter(shows), next: nil)
            }
            guard let roleName = query.get("role"), let role = Role(rawValue: roleName.uppercased()) else {
                throw Problem.badRequest("give role (TARGET, MANAGER, ADMIN, MARKETING), email or stripe_customer_id")
            }
            let limit = query.get("limit").map { Int($0) ?? -1 } ?? 50
            guard (1...1_000).contains(limit) else { throw Problem.badRequest("limit must be 1 to 1000") }
            let includeDeleted = query.get("include_deleted") == "true"
            do {
                let page = try self.reads.users(
                    role: role, includeDeleted: includeDeleted, limit: limit, after: query.get("cursor"))
                return self.page(page.users.filter(shows), next: page.nextCursor)
            } catch QueryError.invalidCursor {
                throw Problem.badRequest("the cursor is not one this API returned")
            }
        }
        self.onWrite(router, .patch, "/v1/users/:id") { request, context in
            let caller = try self.principal(request)
            let id = try self.user(context.parameters.get("id"))
            let body = try await self.body(request, allowed: ["first_name", "last_name", "phone"])
            let phone: String? = body.keys.contains("phone") ? (try body.optionalString("phone") ?? "") : nil
            let user = try await self.service.updateProfile(
                of: id, firstName: try body.optionalString("first_name"),
                lastName: try body.optionalString("last_name"),
                phone: phone, actor: caller.actor, correlationID: context.requestID)
            return self.respond(user)
        }
        // The user deleting their own account gives their current password (`current_password`
        // in a JSON body), checked under the login's throttling as a password change checks it:
        // a stolen access token alone cannot lock its owner out. Others send no body.
        self.onWrite(router, .delete, "/v1/users/:id") { request, context in
            let caller = try self.principal(request)
            let id = try self.user(context.parameters.get("id"))
            guard caller.actor.isUser(id) else {
                try await self.service.softDelete(id, actor: caller.actor, correlationID: context.requestID)
                return Response(status: .noContent)
            }
            try self.limit("password", context)
            let body = try await self.body(request, allowed: ["current_password"])
            let current = try body.string("current_password")
            guard let user = try self.reads.user(id: id, includePersonal: true) else { throw Problem.unauthorized }
            _ = try await self.throttlingWrongPasswords(account: Self.accountKey(user.email), context: context) {
                try await self.service.softDelete(
                    id, actor: caller.actor, currentPassword: current, correlationID: context.requestID)
            }
            return Response(status: .noContent)
        }
    }

    /// `GET /v1/users/me`: the caller's own record, with its personal fields. Synchronous, so
    /// that the fast reads (``FastReads``) answer with this same code (`cachedOnly`: see
    /// ``principal(authorization:cachedOnly:)``).
    func ownUser(authorization: String?, cachedOnly: Bool = false) throws -> UserState {
        let caller = try self.caller(authorization: authorization, cachedOnly: cachedOnly)
        guard let user = try reads.user(id: caller.id, includePersonal: true) else { throw Problem.notFound }
        return user
    }

    /// `GET /v1/users/{id}` (`as_of`: the query's value, if any): the user the caller may see,
    /// or the problem the route answers. Synchronous, so that the fast reads (``FastReads``)
    /// answer with this same code.
    func user(_ idText: String?, authorization: String?, asOf: String?, cachedOnly: Bool = false) throws
        -> UserState
    {
        let id = try self.user(idText)
        let caller: Caller
        switch try self.principal(authorization: authorization, cachedOnly: cachedOnly) {
        case .credential(let credential):
            guard ReadRules.mayRead(scopes: credential.scopes) else { throw Rejection.insufficientScope }
            // The past stays ADMIN's: no scope reads it.
            guard asOf == nil else { throw Rejection.forbidden }
            guard let user = try reads.user(id: id, includePersonal: true), ReadRules.showsToCredential(user)
            else { throw Problem.notFound }
            return user
        case .user(let user): caller = user
        }
        guard ReadRules.mayRead(id, reader: caller.id, role: caller.role) else { throw Rejection.forbidden }
        if let asOf {
            guard ReadRules.mayReadPast(role: caller.role) else { throw Rejection.forbidden }
            guard let moment = ReadMoment(parsing: asOf) else {
                throw Problem.badRequest("as_of must be an RFC 3339 time or a log position")
            }
            guard let user = try reads.user(id: id, asOf: moment) else { throw Problem.notFound }
            return user
        }
        guard let user = try reads.user(id: id, includePersonal: true), ReadRules.shows(user, to: caller.role)
        else { throw Problem.notFound }
        return user
    }
}
