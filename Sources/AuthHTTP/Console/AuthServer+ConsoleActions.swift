import AuthDomain
import AuthService
import EventLog
import Foundation
import Hummingbird

/// The console's actions on a user: `POST /admin/users/{id}/ACTION`, ADMIN only, each with
/// the session's CSRF token, each the AuthService command the API runs with the admin as
/// actor (so the event records the admin, and the domain's rules apply: an admin cannot
/// change their own role, say). Each answers 303 to the user's page, which shows the new event.
///
/// - `role` (field `role`): ``AuthService/changeRole(of:to:actor:correlationID:)``;
/// - `delete`, `restore`: soft-delete and restore;
/// - `erase` (field `confirm`: the user's email address, or their id once it is gone):
///   ``AuthService/erase(_:actor:correlationID:)``; another confirmation: 400, nothing erased;
/// - `end-session`: ends the user's session (`LoggedOut` with the admin as actor);
/// - `reset`: sends a password reset to the user's address, as `POST /v1/password-resets`
///   does, with the admin as actor.
extension AuthServer {
    func addConsoleActions(to router: Router<AuthRequestContext>, _ console: AdminConsole) {
        for action in ["role", "delete", "restore", "erase", "end-session", "reset"] {
            router.post("/admin/users/:id/\(action)") { request, context in
                try await self.withConsoleCaller(request, console, adminOnly: true) { caller in
                    let form = try await self.consoleForm(request, caller)
                    guard let id = context.parameters.get("id").flatMap(UUID.init(text:)),
                        let user = try self.reads.user(id: id, includePersonal: true)
                    else { throw ConsoleRefusal.noSuchUser }
                    try await self.consoleAction(action, on: user, form: form, caller: caller, context: context)
                    await self.settleConsoleWrite()
                    return Self.consoleRedirect("/admin/users/\(id.uuidString.lowercased())?done=\(action)")
                }
            }
        }
    }

    func consoleAction(
        _ action: String, on user: UserState, form: [String: String], caller: ConsoleCaller,
        context: AuthRequestContext
    ) async throws {
        let (actor, correlation) = (caller.actor, context.requestID)
        switch action {
        case "role":
            guard let role = Role(rawValue: form["role"] ?? "") else {
                throw ConsoleRefusal(status: .badRequest, detail: "Choose TARGET, MANAGER, ADMIN or MARKETING.")
            }
            try await service.changeRole(of: user.id, to: role, actor: actor, correlationID: correlation)
        case "delete":
            // Deleting one's own account takes one's current password, which the console does
            // not ask for: refused here, before anything is decided or recorded.
            guard !actor.isUser(user.id) else {
                throw ConsoleRefusal(
                    status: .forbidden,
                    detail: "Your own account is deleted with your password, through the API; nothing was deleted.")
            }
            try await service.softDelete(user.id, actor: actor, correlationID: correlation)
        case "restore":
            try await service.restore(user.id, actor: actor, correlationID: correlation)
        case "erase":
            let expected = user.email.isEmpty ? user.id.uuidString.lowercased() : user.email
            let typed = (form["confirm"] ?? "").trimmingCharacters(in: .whitespaces)
            guard typed.lowercased() == expected.lowercased() else {
                throw ConsoleRefusal(
                    status: .badRequest, detail: "To erase, type the user's email address exactly; nothing was erased.")
            }
            try await service.erase(user.id, actor: actor, correlationID: correlation)
        case "end-session":
            guard let session = user.session else { return }
            try await service.logout(userID: user.id, sessionID: session.id, actor: actor, correlationID: correlation)
        case "reset":
            guard !user.email.isEmpty, !user.isDeleted else {
                throw ConsoleRefusal(status: .conflict, detail: "This user has no address to send a reset to.")
            }
            try await service.requestPasswordReset(email: user.email, actor: actor, correlationID: correlation)
        default:
            throw ConsoleRefusal.noSuchUser
        }
    }
}
