import AuthDomain
import AuthService
import Foundation
import Hummingbird

extension AuthServer {
    func addAdministrationRoutes(to router: Router<AuthRequestContext>) {
        self.onWrite(router, .put, "/v1/users/:id/role") { request, context in
            let caller = try self.caller(request)
            let id = try self.user(context.parameters.get("id"))
            let body = try await self.body(request, allowed: ["role"])
            guard let role = Role(rawValue: try body.string("role")) else {
                throw Problem.badRequest("role must be TARGET, MANAGER, ADMIN or MARKETING")
            }
            let user = try await self.service.changeRole(
                of: id, to: role, actor: caller.actor, correlationID: context.requestID)
            return self.respond(user)
        }
        self.onWrite(router, .post, "/v1/users/:id/restore") { request, context in
            let caller = try self.principal(request)
            let id = try self.user(context.parameters.get("id"))
            let user = try await self.service.restore(
                id, actor: caller.actor, correlationID: context.requestID)
            return self.respond(user)
        }
        self.onWrite(router, .post, "/v1/users/:id/erase") { request, context in
            let caller = try self.caller(request)
            guard caller.role == .admin else { throw Rejection.forbidden }
            let id = try self.user(context.parameters.get("id"))
            try await self.service.erase(id, actor: caller.actor, correlationID: context.requestID)
            return Response(status: .noContent)
        }
        self.onRead(router, "/v1/users/:id/events") { request, context in
            let caller = try self.caller(request)
            guard ReadRules.mayReadAuditTrail(role: caller.role) else { throw Rejection.forbidden }
            let id = try self.user(context.parameters.get("id"))
            let trail = try self.reads.auditTrail(id: id)
            guard !trail.isEmpty else { throw Problem.notFound }
            return try self.json([
                "events": trail.map {
                    [
                        "position": Int($0.position), "recorded_at": $0.recordedAt.description, "type": $0.type,
                        "actor": $0.actor,
                        "correlation_id": $0.correlationID, "changes": $0.changes,
                    ] as [String: Any]
                }
            ])
        }
    }
}
