import AuthDomain
import Foundation
import Hummingbird

/// `GET /admin/users`: counts per role, then a search.
///
/// Query parameters (all optional): `q` (an email prefix, a user id, a phone number or a
/// Stripe customer id, see ``UserDirectory``), `role`, `verified`, `deleted`, `erased`
/// (`yes` or `no`), `sort` (`created`, newest first, or `last_login`) and `page` (from 1,
/// 50 users a page). A MANAGER never sees erased users. Unknown values are ignored.
extension AuthServer {
    static let consolePageSize = 50

    func addConsoleUsers(to router: Router<AuthRequestContext>, _ console: AdminConsole) {
        router.get("/admin/users") { request, _ in
            try await self.withConsoleCaller(request, console) { caller in
                try self.usersPage(request, console, caller)
            }
        }
    }

    func usersPage(_ request: Request, _ console: AdminConsole, _ caller: ConsoleCaller) throws -> Response {
        let parameters = request.uri.queryParameters
        func text(_ name: String) -> String { parameters.get(name).map { String($0.prefix(200)) } ?? "" }
        func flag(_ name: String) -> Bool? {
            switch text(name) {
            case "yes": return true
            case "no": return false
            default: return nil
            }
        }
        var query = DirectoryQuery()
        query.text = text("q")
        query.role = Role(rawValue: text("role").uppercased())
        query.verified = flag("verified")
        query.deleted = flag("deleted")
        query.erased = caller.isAdmin ? flag("erased") : false
        query.order = DirectoryQuery.Order(rawValue: text("sort")) ?? .created
        let page = max(1, min(Int(text("page")) ?? 1, 10_000))
        query.limit = Self.consolePageSize
        query.offset = (page - 1) * Self.consolePageSize
        let found = try console.directory.search(query)
        let counts = try console.directory.roleCounts()

        var rows: [[String: Any]] = []
        for id in found.ids {
            guard let user = try reads.user(id: id, includePersonal: true), ReadRules.shows(user, to: caller.role)
            else { continue }
            rows.append([
                "id": user.id.uuidString.lowercased(),
                "email": user.isErased ? "(erased)" : user.email,
                "name": user.isErased ? "(erased)" : "\(user.firstName) \(user.lastName)",
                "role": user.role.rawValue,
                "verified": user.emailVerifiedAt == nil ? "no" : "yes",
                "created": Self.consoleTime(user.createdAt),
                "last_login": Self.consoleTime(user.lastLoginAt),
                "state": user.isErased ? "erased" : user.isDeleted ? "soft-deleted" : "active",
            ])
        }
        // Links to the neighbouring pages keep every other parameter.
        func link(page number: Int) -> String {
            var pairs: [String] = []
            for name in ["q", "role", "verified", "deleted", "erased", "sort"] where !text(name).isEmpty {
                pairs.append("\(name)=\(Self.queryValue(text(name)))")
            }
            pairs.append("page=\(number)")
            return "/admin/users?" + pairs.joined(separator: "&")
        }
        var values: [String: Any] = [
            "counts": Role.allCases.map { ["role": $0.rawValue, "count": counts[$0] ?? 0] as [String: Any] },
            "q": query.text,
            "roles": Role.allCases.map { ["name": $0.rawValue, "selected": $0 == query.role] as [String: Any] },
            "flags": (caller.isAdmin ? ["verified", "deleted", "erased"] : ["verified", "deleted"]).map { name in
                ["name": name, "yes": flag(name) == true, "no": flag(name) == false] as [String: Any]
            },
            "by_login": query.order == .lastLogin,
            "total": found.total,
            "users": rows,
        ]
        if found.position > 0 { values["position"] = found.position }
        if page > 1 { values["previous"] = link(page: page - 1) }
        if query.offset + Self.consolePageSize < min(found.total, DirectoryQuery.deepestResult) {
            values["next"] = link(page: page + 1)
        }
        return consolePage(console, "users", title: "Users", values, caller: caller)
    }
}
