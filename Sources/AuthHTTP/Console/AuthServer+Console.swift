import AuthDomain
import AuthService
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Who is using the console: a signed-in ADMIN or MANAGER whose log session is still current.
struct ConsoleCaller {
    let id: UUID
    let role: Role
    let email: String
    let logSession: UUID
    let csrf: String
    var actor: Actor { .user(id, role) }
    var isAdmin: Bool { role == .admin }
}

/// A console request refused with a page: its status and what the page says.
struct ConsoleRefusal: Error {
    var status: HTTPResponse.Status
    var detail: String

    static let staleForm = ConsoleRefusal(
        status: .forbidden,
        detail: "The form's security token is missing or out of date. Reload the page and try again.")
    static let adminOnly = ConsoleRefusal(
        status: .forbidden, detail: "Only an ADMIN may do this; a MANAGER reads only.")
    static let noSuchUser = ConsoleRefusal(status: .notFound, detail: "There is no such user.")
}

/// The admin console's pages under `/admin` (docs/operations.md, "The admin console").
///
/// Rules every console page keeps:
/// - Served only with an ``AdminConsole``; outside the JSON API (no problem+json: errors are
///   pages with the same statuses).
/// - Signed-in pages need the console cookie of a session whose user is still an ADMIN or a
///   MANAGER, not deleted, with the log session the sign-in started; otherwise they redirect
///   to `/admin/login`.
/// - Every POST carries the session's CSRF token (`csrf`); without it, or with another one,
///   403 and nothing is done.
/// - MANAGER reads users (never erased ones) and does nothing else; the timeline, the as-of
///   view, the actions and the log page are ADMIN's, as in the API's read rules.
/// - Every action is the AuthService command the API runs, with the admin as actor.
/// - Every answer has `Cache-Control: no-store`, a Content-Security-Policy that allows
///   nothing but this origin's style sheet and forms, `X-Frame-Options: DENY`,
///   `X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin`.
/// - The signed-in session's cookie (`authlog_console`, Path=/admin) and the sign-in form's
///   (`authlog_console_login`, Path=/admin/login) are HttpOnly and SameSite=Strict. Behind an
///   https public URL they are `__Host-authlog_console` and `__Host-authlog_console_login`,
///   Secure, with Path=/ and no Domain, as that prefix demands: a browser takes a cookie of
///   that name only from a secure page of this very host, so no sibling subdomain and no
///   plain-http page can set one beside them, or in their place, for an admin's browser to
///   send (RFC 6265bis, cookie prefixes). They are two: a browser sends neither on a link
///   from another site, so a form opened that way sets only its own, never replacing the
///   one an admin is signed in with.
extension AuthServer {
    /// The signed-in session's cookie's name (see the rules above).
    var consoleCookieName: String { configuration.publicURL.isHTTPS ? "__Host-authlog_console" : "authlog_console" }
    /// The sign-in form's cookie's name.
    var consoleLoginCookieName: String {
        configuration.publicURL.isHTTPS ? "__Host-authlog_console_login" : "authlog_console_login"
    }
    static let consolePolicy =
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func addConsoleRoutes(to router: Router<AuthRequestContext>) {
        guard let console else { return }
        router.get("/admin") { _, _ in Self.consoleRedirect("/admin/users") }
        router.get("/admin/console.css") { _, _ in
            var response = Response(
                status: .ok, headers: Self.consoleHeaders(contentType: "text/css; charset=utf-8"),
                body: .init(byteBuffer: ByteBuffer(string: ConsoleTemplates.styleSheet)))
            response.headers[.cacheControl] = "no-store"
            return response
        }
        addConsoleSignIn(to: router, console)
        addConsoleUsers(to: router, console)
        addConsoleUser(to: router, console)
        addConsoleActions(to: router, console)
        addConsoleLog(to: router, console)
    }

    // MARK: Responses

    static func consoleHeaders(contentType: String = "text/html; charset=utf-8") -> HTTPFields {
        [
            .contentType: contentType, .cacheControl: "no-store", .contentSecurityPolicy: consolePolicy,
            HTTPField.Name("X-Frame-Options")!: "DENY", .xContentTypeOptions: "nosniff",
            HTTPField.Name("Referrer-Policy")!: "same-origin",
        ]
    }

    static func consoleRedirect(_ location: String, setCookie: String? = nil) -> Response {
        var headers = consoleHeaders()
        headers[.location] = location
        if let setCookie { headers[.setCookie] = setCookie }
        return Response(status: .seeOther, headers: headers)
    }

    /// The signed-in session's cookie with `value`, or one that removes it (`value` nil).
    func consoleCookie(_ value: String?) -> String {
        cookie(consoleCookieName, value, path: "/admin")
    }

    /// The sign-in form's cookie (its waiting session) with `value`, or one that removes it.
    func consoleLoginCookie(_ value: String?) -> String {
        cookie(consoleLoginCookieName, value, path: "/admin/login")
    }

    /// Behind an https public URL, Path=/ and Secure, as the names' `__Host-` prefix demands.
    private func cookie(_ name: String, _ value: String?, path: String) -> String {
        let secure = configuration.publicURL.isHTTPS
        var cookie = "\(name)=\(value ?? ""); Path=\(secure ? "/" : path); HttpOnly; SameSite=Strict"
        if value == nil { cookie += "; Max-Age=0" }
        if secure { cookie += "; Secure" }
        return cookie
    }

    /// Page `name` inside the layout, for `caller` (nil: signed out).
    func consolePage(
        _ console: AdminConsole, _ name: String, title: String, _ values: [String: Any], caller: ConsoleCaller?,
        status: HTTPResponse.Status = .ok, notice: String? = nil, setCookie: String? = nil
    ) -> Response {
        var layout: [String: Any] = ["title": title]
        if let caller {
            layout["signed_in"] = true
            layout["admin"] = caller.isAdmin
            layout["csrf"] = caller.csrf
            layout["who"] = caller.email
            layout["role"] = caller.role.rawValue
        }
        if let notice { layout["notice"] = notice }
        var headers = Self.consoleHeaders()
        if let setCookie { headers[.setCookie] = setCookie }
        return Response(
            status: status, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: console.templates.render(name, values, layout: layout))))
    }

    // MARK: Sessions

    /// The value of the signed-in session's cookie in the request, if any.
    func consoleCookieValue(_ request: Request) -> String? {
        Self.cookieValue(request, name: consoleCookieName)
    }

    /// The value of the cookie `name` in the request, if any.
    static func cookieValue(_ request: Request, name: String) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(
                    separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2, parts[0] == name { return String(parts[1]) }
            }
        }
        return nil
    }

    /// The signed-in caller, or nil when the cookie names no live session, or its user is no
    /// longer an ADMIN or MANAGER with that log session (the console session is then ended).
    func consoleCaller(_ request: Request, _ console: AdminConsole) throws -> ConsoleCaller? {
        let cookie = consoleCookieValue(request)
        guard let session = console.sessions.session(cookie, signedIn: true), let id = session.user,
            let logSession = session.logSession
        else { return nil }
        guard let user = try reads.user(id: id, includePersonal: true), user.exists, !user.isDeleted,
            user.session?.id == logSession, user.role == .admin || user.role == .manager
        else {
            console.sessions.close(cookie, signedIn: true)
            return nil
        }
        return ConsoleCaller(id: id, role: user.role, email: user.email, logSession: logSession, csrf: session.csrf)
    }

    /// Runs `body` for a signed-in caller (an ADMIN when `adminOnly`); a signed-out request is
    /// sent to the sign-in page, a refusal or a known error becomes a page with its status.
    func withConsoleCaller(
        _ request: Request, _ console: AdminConsole, adminOnly: Bool = false,
        _ body: (ConsoleCaller) async throws -> Response
    ) async throws -> Response {
        guard let caller = try consoleCaller(request, console) else { return Self.consoleRedirect("/admin/login") }
        do {
            if adminOnly, !caller.isAdmin { throw ConsoleRefusal.adminOnly }
            return try await body(caller)
        } catch let refusal as ConsoleRefusal {
            return consoleProblem(console, refusal.status, refusal.detail, caller: caller, request: request)
        } catch {
            let problem = Problem.from(error)
            guard problem.status.code < 500 || !problem.headers.isEmpty else { throw error }
            var response = consoleProblem(console, problem.status, problem.detail, caller: caller, request: request)
            for field in problem.headers { response.headers.append(field) }
            return response
        }
    }

    func consoleProblem(
        _ console: AdminConsole, _ status: HTTPResponse.Status, _ detail: String, caller: ConsoleCaller?,
        request: Request
    ) -> Response {
        // Back to the user's page from one of their actions; to the search from anywhere else.
        let parts = request.uri.path.split(separator: "/")
        let back =
            parts.count >= 3 && parts[1] == "users" ? "/" + parts.prefix(3).joined(separator: "/") : "/admin/users"
        return consolePage(
            console, "problem", title: "That did not work", ["detail": detail, "back": back], caller: caller,
            status: status)
    }

    /// The form of a POST from `caller`, once its CSRF token matched.
    func consoleForm(_ request: Request, _ caller: ConsoleCaller) async throws -> [String: String] {
        let form = try await Self.form(request)
        guard ConsoleSessions.matches(form["csrf"], caller.csrf) else { throw ConsoleRefusal.staleForm }
        return form
    }

    /// After a console write: waits (bounded) for the read model to reach the log's head, so
    /// the page that follows shows it, and wakes event streams.
    func settleConsoleWrite() async {
        if let head = try? service.log.headPosition() {
            _ = try? await progress.waitForPosition(head, timeout: configuration.minimumPositionWait)
        }
        commits.notify()
    }

    // MARK: Formatting

    static func consoleTime(_ time: Timestamp?) -> String {
        guard let time else { return "—" }
        let text = time.description
        // 2026-01-31T12:00:00.123456Z -> 2026-01-31 12:00:00Z: seconds are enough on a page.
        guard text.count >= 19 else { return text }
        return String(text.prefix(10)) + " " + String(text.dropFirst(11).prefix(8)) + "Z"
    }

    /// `text` percent-encoded for a query value (unreserved characters stay).
    static func queryValue(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
