import AuthDomain
import AuthService
import Foundation
import HTTPTypes
import Hummingbird

/// Signing in to the console and out of it.
///
/// Rules:
/// - `GET /admin/login` shows the form (`email`, `password`, `csrf`) and opens a session
///   waiting for a sign-in, whose CSRF token the form carries; a client address opens at most
///   `--rate-limit` of them a minute (429 beyond).
/// - `POST /admin/login` is the API's login (`POST /v1/sessions`): the same rate limit, the
///   same throttling of wrong passwords, the same events (`LoginSucceeded` starts the
///   account's one session, `LoginFailed` is recorded). A wrong password or an unknown
///   address: 401 and the form again. An account that is not ADMIN or MANAGER: its new
///   session is ended at once (`LoggedOut`) and the answer is 403; no console session opens.
/// - The form's waiting session has a cookie of its own (`authlog_console_login`), apart from
///   the signed-in one (`authlog_console`; both `__Host-` prefixed behind https): a form
///   opened from a link on another site (the browser sends neither cookie) never replaces an
///   admin's signed-in cookie.
/// - A sign-in sets the signed-in cookie to a new session (a new value, a new CSRF token) and
///   removes the form's. Its log session is kept in the console's store first, if it has one
///   (``AdminConsole/keepHeldSessions()``); when it cannot be, the log session is ended
///   (`LoggedOut`, actor `system`) and the answer is the form again, 503 with Retry-After.
/// - `POST /admin/logout` ends the log session (`LoggedOut`, the user as actor) and the
///   console session, and removes the cookie.
extension AuthServer {
    func addConsoleSignIn(to router: Router<AuthRequestContext>, _ console: AdminConsole) {
        router.get("/admin/login") { request, context in
            if try self.consoleCaller(request, console) != nil { return Self.consoleRedirect("/admin/users") }
            // A form without a live waiting session opens one: a client address opens at most
            // --rate-limit a minute, so one client cannot push everyone's out of their table.
            if console.sessions.session(self.loginCookieValue(request), signedIn: false) == nil {
                try self.limit("console-form", context)
            }
            return try self.loginForm(console, request: request, message: nil, email: "", status: .ok)
        }
        router.post("/admin/login") { request, context in
            let cookie = self.loginCookieValue(request)
            let form = try await Self.form(request)
            guard let waiting = console.sessions.session(cookie, signedIn: false),
                ConsoleSessions.matches(form["csrf"], waiting.csrf)
            else {
                // The fresh form opens a waiting session, as a cookieless GET does: the same limit.
                try self.limit("console-form", context)
                return try self.loginForm(
                    console, request: request, message: ConsoleRefusal.staleForm.detail, email: "", status: .forbidden,
                    fresh: true)
            }
            let email = form["email"] ?? ""
            let grant: AuthService.SessionGrant
            do {
                try self.limit("login", context)
                grant = try await self.throttledLogin(
                    email: email, password: form["password"] ?? "", context: context)
            } catch {
                let problem = Problem.from(error)
                guard problem.status.code < 500 || !problem.headers.isEmpty else { throw error }
                let message =
                    problem.code == "invalid_credentials" ? "Wrong email or password." : problem.detail
                var response = try self.loginForm(
                    console, request: request, message: message, email: email, status: problem.status)
                for field in problem.headers { response.headers.append(field) }
                return response
            }
            guard grant.user.role == .admin || grant.user.role == .manager else {
                try await self.service.logout(
                    userID: grant.user.id, sessionID: grant.sessionID, actor: .user(grant.user.id, grant.user.role),
                    correlationID: context.requestID)
                await self.settleConsoleWrite()
                return try self.loginForm(
                    console, request: request, message: "This account may not use the console.", email: email,
                    status: .forbidden)
            }
            await self.settleConsoleWrite()
            console.sessions.close(cookie, signedIn: false)
            // A session signed in before in this browser ends with this sign-in.
            console.sessions.close(self.consoleCookieValue(request), signedIn: true)
            let opened = try console.sessions.open(user: grant.user.id, logSession: grant.sessionID)
            do { try console.keepHeldSessions() } catch {
                // Not kept, a crash would leave the log session open: the sign-in does not
                // happen, and its log session is ended now (the sweep would try again).
                console.sessions.close(opened.cookie, signedIn: true)
                self.logger.error("a console sign-in could not be kept; refused", metadata: ["error": "\(error)"])
                try? await self.service.logout(
                    userID: grant.user.id, sessionID: grant.sessionID, actor: .system,
                    correlationID: context.requestID)
                await self.settleConsoleWrite()
                var response = try self.loginForm(
                    console, request: request, message: "The console could not keep the sign-in; try again later.",
                    email: email, status: .serviceUnavailable)
                response.headers[.retryAfter] = "5"
                return response
            }
            var response = Self.consoleRedirect("/admin/users", setCookie: self.consoleCookie(opened.cookie))
            response.headers.append(HTTPField(name: .setCookie, value: self.consoleLoginCookie(nil)))
            return response
        }
        router.post("/admin/logout") { request, context in
            try await self.withConsoleCaller(request, console) { caller in
                _ = try await self.consoleForm(request, caller)
                try await self.service.logout(
                    userID: caller.id, sessionID: caller.logSession, actor: caller.actor,
                    correlationID: context.requestID)
                await self.settleConsoleWrite()
                console.sessions.close(self.consoleCookieValue(request), signedIn: true)
                return Self.consoleRedirect("/admin/login", setCookie: self.consoleCookie(nil))
            }
        }
    }

    /// The form's cookie's value in the request, if any.
    func loginCookieValue(_ request: Request) -> String? {
        Self.cookieValue(request, name: consoleLoginCookieName)
    }

    /// The sign-in form, in the request's waiting session (a new one when it has none, or when
    /// `fresh`).
    func loginForm(
        _ console: AdminConsole, request: Request, message: String?, email: String, status: HTTPResponse.Status,
        fresh: Bool = false
    ) throws -> Response {
        let cookie = loginCookieValue(request)
        var setCookie: String?
        let csrf: String
        if !fresh, let waiting = console.sessions.session(cookie, signedIn: false) {
            csrf = waiting.csrf
        } else {
            console.sessions.close(cookie, signedIn: false)
            let opened = try console.sessions.open()
            csrf = opened.session.csrf
            setCookie = consoleLoginCookie(opened.cookie)
        }
        var values: [String: Any] = ["csrf": csrf, "email": email]
        if let message { values["message"] = message }
        return consolePage(
            console, "login", title: "Sign in", values, caller: nil, status: status, setCookie: setCookie)
    }
}
