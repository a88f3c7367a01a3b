import AuthDomain
import EventLog
import Foundation
import Hummingbird

/// `GET /admin/users/{id}`: the user's fields, the actions (ADMIN), and the timeline (ADMIN):
/// the user's events replayed from the log, newest first, each with its time, actor, type and
/// the fields it changed (before → after).
///
/// Rules:
/// - Personal fields (email, names, phone, Stripe id, a pending address) show while the
///   user's data key exists; an erased user's show as "erased", in the fields and in every
///   event of the timeline that changed them. Secrets (password and token hashes) show only as
///   "changed".
/// - Timeline filters: `type` (an event type), `since` and `until` (an RFC 3339 time or a log
///   position, inclusive); `before=P` pages to events older than position P, 100 a page.
/// - `as_of=TIME_OR_POSITION` shows the user as they were then (their stream replayed up to
///   it, as `GET /v1/users/{id}?as_of=` does) beside a diff against now: ADMIN only.
extension AuthServer {
    static let timelinePageSize = 100
    static let personalFields: Set<String> = [
        "email", "first_name", "last_name", "phone", "stripe_customer_id", "pending_email",
    ]

    func addConsoleUser(to router: Router<AuthRequestContext>, _ console: AdminConsole) {
        router.get("/admin/users/:id") { request, context in
            try await self.withConsoleCaller(request, console) { caller in
                try self.userPage(request, context, console, caller)
            }
        }
    }

    func userPage(
        _ request: Request, _ context: AuthRequestContext, _ console: AdminConsole, _ caller: ConsoleCaller
    ) throws -> Response {
        guard let id = context.parameters.get("id").flatMap(UUID.init(text:)) else {
            throw ConsoleRefusal.noSuchUser
        }
        guard let user = try reads.user(id: id, includePersonal: true), ReadRules.shows(user, to: caller.role) else {
            throw ConsoleRefusal.noSuchUser
        }
        let parameters = request.uri.queryParameters
        func text(_ name: String) -> String { parameters.get(name).map { String($0.prefix(100)) } ?? "" }
        let idText = user.id.uuidString.lowercased()
        var values: [String: Any] = [
            "id": idText, "csrf": caller.csrf,
            "fields": Self.consoleFields(user).map { ["field": $0.0, "value": $0.1] },
        ]
        if caller.isAdmin {
            values["may_act"] = true
            values["roles"] = Role.allCases.map { ["name": $0.rawValue, "selected": $0 == user.role] as [String: Any] }
            values["deleted"] = user.isDeleted
            values["has_session"] = user.session != nil
            values["may_reset"] = !user.isDeleted && !user.email.isEmpty
            values["erase_word"] = user.email.isEmpty ? idText : user.email
            // One's own account is not deleted or erased here (both are refused): not offered.
            values["is_self"] = caller.actor.isUser(user.id)
        }
        if !text("as_of").isEmpty {
            guard ReadRules.mayReadPast(role: caller.role) else { throw ConsoleRefusal.adminOnly }
            guard let moment = ReadMoment(parsing: text("as_of")) else {
                throw ConsoleRefusal(status: .badRequest, detail: "as_of must be an RFC 3339 time or a log position.")
            }
            let then = try reads.user(id: id, asOf: moment)
            let now = Self.consoleFields(user)
            let past = then.map { Self.consoleFields($0, erased: user.isErased) } ?? []
            values["as_of"] = text("as_of")
            values["as_of_text"] = text("as_of")
            if then == nil { values["then_missing"] = true }
            values["diff"] = now.indices.map { index in
                let field = now[index].0
                let old = past.first { $0.0 == field }?.1 ?? "—"
                let row: [String: Any] = [
                    "field": field, "then": old, "now": now[index].1, "changed": old != now[index].1,
                ]
                return row
            }
        }
        if ReadRules.mayReadAuditTrail(role: caller.role) {
            values["may_audit"] = true
            try addTimeline(to: &values, user: user, text: text)
        }
        let title = user.isErased ? "Erased user \(idText)" : "\(user.firstName) \(user.lastName)"
        return consolePage(
            console, "user", title: title, values, caller: caller, notice: Self.consoleNotice(text("done")))
    }

    /// The timeline's values: the user's audit trail with each change's before and after,
    /// filtered and paged as the request asks.
    func addTimeline(to values: inout [String: Any], user: UserState, text: (String) -> String) throws {
        let personalKinds = Set(UserEvent.Kind.allCases.filter(\.changesPersonalFields).map { "\($0.name)" })
        let type = text("type")
        let since = ReadMoment(parsing: text("since"))
        let until = ReadMoment(parsing: text("until"))
        let before = UInt64(text("before"))
        func within(_ entry: AuditHead) -> Bool {
            if !type.isEmpty, entry.type != type { return false }
            if let since, !Self.atOrAfter(entry, since) { return false }
            if let until, Self.atOrAfter(entry, until), !Self.at(entry, until) { return false }
            return true
        }
        let page = ConsoleTimeline(
            try reads.auditPage(id: user.id, before: before, limit: Self.timelinePageSize, accepts: within),
            erased: user.isErased, personalKinds: personalKinds, personalFields: Self.personalFields)
        values["events_html"] = page.html(userID: user.id.lowercasedText, time: { Self.consoleTime($0) })
        values["shown"] = page.rows.count
        values["matching"] = page.matching
        values["since"] = text("since")
        values["until"] = text("until")
        values["types"] = UserEvent.Kind.allCases.map {
            ["name": "\($0.name)", "selected": "\($0.name)" == type] as [String: Any]
        }
        if page.more, let last = page.rows.last?.entry.position {
            var pairs = ["before=\(last)"]
            for name in ["type", "since", "until"] where !text(name).isEmpty {
                pairs.append("\(name)=\(Self.queryValue(text(name)))")
            }
            values["older"] = "/admin/users/\(user.id.uuidString.lowercased())?" + pairs.joined(separator: "&")
        }
    }

    static func atOrAfter(_ entry: AuditHead, _ moment: ReadMoment) -> Bool {
        switch moment {
        case .position(let position): return entry.position >= position
        case .instant(let instant): return entry.recordedAt >= instant
        }
    }

    static func at(_ entry: AuditHead, _ moment: ReadMoment) -> Bool {
        switch moment {
        case .position(let position): return entry.position == position
        case .instant(let instant): return entry.recordedAt == instant
        }
    }

    /// The user's fields as the page lists them; personal ones as "erased" once the key is gone.
    static func consoleFields(_ user: UserState, erased: Bool? = nil) -> [(String, String)] {
        let gone = erased ?? user.isErased
        func personal(_ value: String?) -> String {
            gone ? "erased" : (value.flatMap { $0.isEmpty ? nil : $0 } ?? "—")
        }
        let session = user.session.map {
            "started \(consoleTime($0.startedAt)), last used \(consoleTime($0.lastUsedAt))"
        }
        return [
            ("id", user.id.uuidString.lowercased()),
            ("email", personal(user.email)),
            ("first_name", personal(user.firstName)),
            ("last_name", personal(user.lastName)),
            ("phone", personal(user.phone)),
            ("role", user.role.rawValue),
            ("email_verified_at", consoleTime(user.emailVerifiedAt)),
            ("pending_email", personal(user.emailChange?.newEmail)),
            ("stripe_customer_id", personal(user.stripeCustomerID)),
            ("created_at", consoleTime(user.createdAt)),
            ("updated_at", consoleTime(user.updatedAt)),
            ("last_login_at", consoleTime(user.lastLoginAt)),
            ("session", session ?? "none"),
            ("failed_logins", String(user.failedLogins)),
            ("locked_until", consoleTime(user.lockedUntil)),
            ("deleted_at", consoleTime(user.deletedAt)),
            ("erased", user.isErased ? "yes" : "no"),
            ("version", String(user.version)),
        ]
    }

    /// What an action's redirect (`?done=`) says on the page; unknown values say nothing.
    static func consoleNotice(_ done: String) -> String? {
        [
            "role": "The role was changed.", "delete": "The user was soft-deleted.",
            "restore": "The user was restored.",
            "erase": "The user was erased.", "end-session": "The session was ended.",
            "reset": "A password reset was sent.",
        ][done]
    }
}
