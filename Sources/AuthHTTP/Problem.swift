import AccessTokens
import AuthDomain
import DataProtection
import EventLog
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import PasswordHashing

/// An RFC 9457 problem: every error the API returns, as `application/problem+json`, with a
/// stable `code` scripts can rely on.
public struct Problem: Error, HTTPResponseError {
    public var status: HTTPResponse.Status
    public var code: String
    public var detail: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ detail: String) {
        self.status = status
        self.code = code
        self.detail = detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The JSON body, keys sorted, written by hand: a refusal must cost little when they come
    /// in floods, and `JSONSerialization` took most of a 503's time (a test holds the two
    /// to the same object).
    var body: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 + 2 * code.utf8.count + detail.utf8.count)
        func raw(_ text: StaticString) { text.withUTF8Buffer { out.append(contentsOf: $0) } }
        raw("{\"code\":")
        JSONString.append(quoting: code, to: &out)
        raw(",\"detail\":")
        JSONString.append(quoting: detail, to: &out)
        raw(",\"status\":")
        out.append(contentsOf: String(status.code).utf8)
        raw(",\"title\":")
        JSONString.append(quoting: status.reasonPhrase, to: &out)
        raw(",\"type\":")
        JSONString.append(quoting: "https://authlog.dev/problems/" + code, to: &out)
        raw("}")
        return out
    }

    static func badRequest(_ detail: String) -> Problem { Problem(.badRequest, "bad_request", detail) }
    static let unauthorized = Problem(.unauthorized, "unauthorized", "a valid bearer access token is required")
    static let notFound = Problem(.notFound, "not_found", "no such user")
}

extension Problem {
    /// A body over ``AuthServer/bodyLimit``, whether its Content-Length said so or it was
    /// sent in chunks.
    static let bodyTooLarge = Problem(
        .contentTooLarge, "payload_too_large", "the request body is over \(AuthServer.bodyLimit) bytes")

    /// The answer to any error a handler throws: domain rejections keep their codes; a body
    /// or an event too large for its limit is 413, never 500.
    static func from(_ error: any Error) -> Problem {
        switch error {
        case let problem as Problem: return problem
        case let rejection as Rejection:
            var problem = Problem(status(of: rejection), rejection.code, rejection.description)
            if rejection == .busy { problem.headers[.retryAfter] = "1" }
            if case .noticesUsedUp(let seconds) = rejection { problem.headers[.retryAfter] = String(max(1, seconds)) }
            return problem
        case let busy as HashingPoolBusy:
            var problem = Problem(.serviceUnavailable, "busy", "the server is busy checking passwords; retry later")
            problem.headers[.retryAfter] = String(max(1, Int(busy.expectedWait.rounded(.up))))
            return problem
        case is AccessTokenError: return .unauthorized
        case is NIOTooManyBytesError: return .bodyTooLarge
        case EventLogError.payloadTooLarge(let size, let limit):
            return Problem(
                .contentTooLarge, "payload_too_large",
                "the fields given make an event of \(size) bytes, over the limit of \(limit) bytes")
        case EventLogError.storageFull, DataProtectionError.storageFull:
            return .unavailable("storage_full", "the log's storage is full; nothing was written", retryAfter: 30)
        case EventLogError.writeFailed:
            return .unavailable("write_failed", "the log could not write; nothing was written", retryAfter: 5)
        case EventLogError.storage, EventLogError.closed:
            // The shared log's server is unreachable or restarting: a commit cut off may or may
            // not have landed, so the client retries and learns (409 for a taken email, say).
            return .unavailable(
                "log_unavailable", "the log cannot be reached now; the change may not have been made, retry",
                retryAfter: 2)
        case EventLogError.checkpointRefused, EventLogError.unsignedLog:
            // The signed head does not match the log: an operator must look (authctl verify).
            return .unavailable(
                "log_refused", "writes are refused: the log's signed head does not match it", retryAfter: 60)
        case let error as HTTPError where error.status == .contentTooLarge: return .bodyTooLarge
        case let error as HTTPError: return Problem(error.status, "http_error", error.body ?? error.status.reasonPhrase)
        case is HTTPParserError:
            // Malformed, or cut short: a body that stopped coming is closed by its timeout.
            return .badRequest("the request is malformed or ended before its body did")
        default:
            return Problem(
                .internalServerError, "internal_error", "the server failed; the request id names it in the log")
        }
    }

    /// 503 with Retry-After: the request was fine, the service cannot take it now.
    static func unavailable(_ code: String, _ detail: String, retryAfter seconds: Int) -> Problem {
        var problem = Problem(.serviceUnavailable, code, detail)
        problem.headers[.retryAfter] = String(seconds)
        return problem
    }

    static func status(of rejection: Rejection) -> HTTPResponse.Status {
        switch rejection {
        case .invalidCredentials, .invalidToken: return .unauthorized
        case .tokenRotated, .emailTaken, .stripeCustomerTaken, .userDeleted, .userErased, .notDeleted: return .conflict
        case .invalidEmail, .weakPassword, .invalidField: return .unprocessableContent
        case .forbidden, .insufficientScope, .cannotChangeOwnRole, .cannotEraseOwnAccount: return .forbidden
        case .notFound: return .notFound
        case .busy: return .serviceUnavailable
        case .noticesUsedUp: return .tooManyRequests
        }
    }
}
