import AuthService
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The pages the links in authd's mail open, outside the JSON API: each GET shows a form and
/// uses nothing, since mail systems' link scanners open links before people do; only the
/// form's POST (a person's click) uses the token.
///
/// - `GET /verify-email?token=T` asks to confirm; `POST /verify-email` (form field `token`)
///   confirms the address.
/// - `GET /confirm-email-change?token=T` asks to confirm; `POST /confirm-email-change` (form
///   field `token`) moves the account to the new address, rate-limited as the JSON route is.
/// - `GET /reset-password?token=T` asks for the new password twice; `POST /reset-password`
///   (`token`, `new_password`, `confirm_password`) sets it, rate-limited as the JSON route is.
///
/// Every page is `text/html` with `Cache-Control: no-store`, `Referrer-Policy: no-referrer`
/// (the token in the address goes nowhere) and a Content-Security-Policy that allows no
/// script and forms to this origin alone; every value in a page is HTML-escaped. A rejected
/// token or password shows the API's message on a page with the API's status (400 ...).
extension AuthServer {
    func addMailPages(to router: Router<AuthRequestContext>) {
        router.get("/verify-email") { request, _ in
            Self.confirmationForm(
                request, title: "Confirm your email address", action: "verify-email",
                text: "Confirm that this email address is yours.", button: "Confirm my email address")
        }
        router.post("/verify-email") { request, context in
            let form = try await Self.form(request)
            do {
                try await self.service.confirmEmail(token: form["token"] ?? "", correlationID: context.requestID)
            } catch {
                return try Self.problemPage(error)
            }
            return Self.page(
                title: "Email address confirmed", body: "<p>Thank you: your email address is confirmed.</p>")
        }
        router.get("/confirm-email-change") { request, _ in
            Self.confirmationForm(
                request, title: "Confirm your new email address", action: "confirm-email-change",
                text: "Confirm that your account moves to this email address.", button: "Confirm my new email address")
        }
        router.post("/confirm-email-change") { request, context in
            try self.limit("email", context)
            let form = try await Self.form(request)
            do {
                try await self.service.confirmEmailChange(token: form["token"] ?? "", correlationID: context.requestID)
            } catch {
                return try Self.problemPage(error)
            }
            return Self.page(
                title: "Email address changed",
                body: "<p>Your account now uses this email address. Sign in with it from now on.</p>")
        }
        router.get("/reset-password") { request, _ in
            guard let token = Self.tokenParameter(request) else { return Self.invalidLink() }
            return Self.resetForm(token: token, message: nil, status: .ok)
        }
        router.post("/reset-password") { request, context in
            try self.limit("reset", context)
            let form = try await Self.form(request)
            let token = form["token"] ?? ""
            guard let password = form["new_password"], password == form["confirm_password"] else {
                return Self.resetForm(token: token, message: "The two passwords differ.", status: .badRequest)
            }
            do {
                try await self.service.completePasswordReset(
                    token: token, newPassword: password, correlationID: context.requestID)
            } catch {
                let problem = Problem.from(error)
                // A password the policy refuses: ask again, the token is still good.
                if problem.code == "weak_password" || problem.code == "validation_failed" {
                    return Self.resetForm(token: token, message: problem.detail, status: problem.status)
                }
                return try Self.problemPage(error)
            }
            return Self.page(
                title: "Password changed", body: "<p>Your password is changed. Sign in with the new one.</p>")
        }
    }

    /// A page that asks before it uses the link's token: a form that POSTs it to `action`
    /// (a person's click); an invalid link's page when the token is missing or malformed.
    static func confirmationForm(_ request: Request, title: String, action: String, text: String, button: String)
        -> Response
    {
        guard let token = tokenParameter(request) else { return invalidLink() }
        return page(
            title: title,
            body: """
                <form method="post" action="\(action)">
                <input type="hidden" name="token" value="\(token.htmlEscaped)">
                <p>\(text)</p>
                <p><button type="submit">\(button)</button></p>
                </form>
                """)
    }

    static func resetForm(token: String, message: String?, status: HTTPResponse.Status) -> Response {
        page(
            title: "Choose a new password",
            body: """
                \(message.map { "<p role=\"alert\"><strong>\($0.htmlEscaped)</strong></p>" } ?? "")
                <form method="post" action="reset-password">
                <input type="hidden" name="token" value="\(token.htmlEscaped)">
                <p><label>New password<br><input type="password" name="new_password" autocomplete="new-password" required></label></p>
                <p><label>Once more<br><input type="password" name="confirm_password" autocomplete="new-password" required></label></p>
                <p><button type="submit">Set my new password</button></p>
                </form>
                """, status: status)
    }

    /// The `token` query parameter when it is shaped like a token (at most 128 base64url
    /// characters and dots); nil otherwise.
    static func tokenParameter(_ request: Request) -> String? {
        guard let token = request.uri.queryParameters.get("token"), !token.isEmpty, token.utf8.count <= 128,
            token.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else { return nil }
        return token
    }

    static func invalidLink() -> Response {
        page(
            title: "This link is not valid",
            body: "<p>The link is incomplete. Open the whole link from the message, or copy its token.</p>",
            status: .badRequest)
    }

    /// An error as a page: a known one with its status and message; an unknown one is thrown
    /// on (the middleware's 500).
    static func problemPage(_ error: any Error) throws -> Response {
        let problem = Problem.from(error)
        guard problem.status.code < 500 || !problem.headers.isEmpty else { throw error }
        var response = page(
            title: "That did not work", body: "<p>\(problem.detail.htmlEscaped)</p>", status: problem.status)
        for field in problem.headers { response.headers.append(field) }
        return response
    }

    /// The fields of an `application/x-www-form-urlencoded` body (at most ``bodyLimit`` bytes).
    static func form(_ request: Request) async throws -> [String: String] {
        guard let type = request.headers[.contentType],
            type.lowercased().hasPrefix("application/x-www-form-urlencoded")
        else {
            throw Problem(
                .unsupportedMediaType, "unsupported_media_type", "the form must be application/x-www-form-urlencoded")
        }
        let buffer = try await request.body.collect(upTo: bodyLimit)
        var fields: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = decode(parts[0]), let value = decode(parts.count == 2 ? parts[1] : "") else {
                throw Problem.badRequest("the form is not valid percent-encoding")
            }
            fields[name] = value
        }
        return fields
    }

    static func page(title: String, body: String, status: HTTPResponse.Status = .ok) -> Response {
        let html = """
            <!DOCTYPE html>
            <html lang="en">
            <head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <meta name="robots" content="noindex"><title>\(title.htmlEscaped)</title></head>
            <body style="font-family: sans-serif; max-width: 30em; margin: 2em auto;">
            <h1 style="font-size: 1.3em;">\(title.htmlEscaped)</h1>
            \(body)
            </body>
            </html>

            """
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                HTTPField.Name("Referrer-Policy")!: "no-referrer",
                .contentSecurityPolicy:
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
