import AccessTokens
import AuthDomain
import DataProtection
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TestSupport
import Testing

@testable import AuthHTTP

/// Problem's mapping of thrown errors to statuses and codes, directly.
@Suite(.ownThreads) struct ProblemTests {
    @Test func everyRejectionKeepsItsCodeWithA4xxStatus() {
        let expected: [(Rejection, HTTPResponse.Status)] = [
            (.invalidCredentials, .unauthorized), (.invalidToken, .unauthorized), (.tokenRotated, .conflict),
            (.emailTaken, .conflict), (.stripeCustomerTaken, .conflict), (.invalidEmail("x"), .unprocessableContent),
            (.weakPassword("x"), .unprocessableContent),
            (.invalidField(field: "f", reason: "r"), .unprocessableContent),
            (.forbidden, .forbidden), (.notFound, .notFound), (.userDeleted, .conflict), (.userErased, .conflict),
            (.notDeleted, .conflict), (.cannotChangeOwnRole, .forbidden), (.cannotEraseOwnAccount, .forbidden),
            (.busy, .serviceUnavailable), (.noticesUsedUp(retryAfter: 60), .tooManyRequests),
        ]
        for (rejection, status) in expected {
            let problem = Problem.from(rejection)
            #expect(problem.status == status && problem.code == rejection.code, "\(rejection)")
            #expect(problem.detail == rejection.description)
        }
    }

    @Test func aFullDiskAFailedWriteAndARefusedLogAre503WithRetryAfter() {
        let expected: [(any Error, String)] = [
            (EventLogError.storageFull(detail: "no space"), "storage_full"),
            (DataProtectionError.storageFull("no space"), "storage_full"),
            (EventLogError.writeFailed(detail: "EIO"), "write_failed"),
            (EventLogError.checkpointRefused("cut back"), "log_refused"),
            (EventLogError.unsignedLog(events: 3), "log_refused"),
        ]
        for (error, code) in expected {
            let problem = Problem.from(error)
            #expect(problem.status == .serviceUnavailable && problem.code == code, "\(error)")
            #expect(Int(problem.headers[.retryAfter] ?? "") ?? 0 > 0, "\(error)")
        }
    }

    @Test func bodiesAndEventsOverTheirLimitsAre413() {
        for error: any Error in [
            NIOTooManyBytesError(maxBytes: AuthServer.bodyLimit), HTTPError(.contentTooLarge),
            EventLogError.payloadTooLarge(size: 70_000, limit: 65_536),
        ] {
            let problem = Problem.from(error)
            #expect(problem.status == .contentTooLarge && problem.code == "payload_too_large", "\(error)")
        }
        #expect(Problem.from(EventLogError.payloadTooLarge(size: 70_000, limit: 65_536)).detail.contains("70000"))
    }

    @Test func tokensProblemsAndOtherHTTPErrorsKeepTheirMeaning() {
        #expect(same(Problem.from(AccessTokenError.rejected("expired")), Problem.unauthorized))
        var problem = Problem(.tooManyRequests, "rate_limited", "slow down")
        problem.headers[.retryAfter] = "3"
        #expect(same(Problem.from(problem), problem))
        let http = Problem.from(HTTPError(.methodNotAllowed))
        #expect(http.status == .methodNotAllowed && http.code == "http_error")
    }

    @Test func anUnknownErrorIsA500ThatRevealsNothing() {
        struct Secret: Error { let password = "hunter2 hunter2" }
        let problem = Problem.from(Secret())
        #expect(problem.status == .internalServerError && problem.code == "internal_error")
        #expect(!problem.detail.contains("hunter2") && !problem.detail.contains("Secret"))
    }
}

extension ProblemTests {
    /// The body written by hand is the object `JSONSerialization` would write, whatever the
    /// detail holds; for plain text, byte for byte.
    @Test func theBodyIsTheObjectJSONSerializationWrites() throws {
        let details = [
            "slow down", "a \"quoted\" name\\path/with/slashes", "line\nbreak\ttab\r\u{0}\u{1F}\u{7F}",
            "é 漢字 🔑 \u{2028}\u{2029} e\u{301}", "",
        ]
        for detail in details {
            for (status, code) in [(HTTPResponse.Status.serviceUnavailable, "busy"), (.badRequest, "bad_request")] {
                let problem = Problem(status, code, detail)
                let reference: [String: Any] = [
                    "type": "https://authlog.dev/problems/\(code)", "title": status.reasonPhrase,
                    "status": Int(status.code), "detail": detail, "code": code,
                ]
                let parsed = try #require(
                    try JSONSerialization.jsonObject(with: Data(problem.body)) as? NSDictionary, "\(detail)")
                #expect(parsed == reference as NSDictionary, "\(detail)")
                if detail.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) {
                    let written = try JSONSerialization.data(
                        withJSONObject: reference, options: [.sortedKeys, .withoutEscapingSlashes])
                    #expect(problem.body == Array(written), "\(detail)")
                }
            }
        }
    }
}

func same(_ lhs: Problem, _ rhs: Problem) -> Bool {
    lhs.status == rhs.status && lhs.code == rhs.code && lhs.detail == rhs.detail && lhs.headers == rhs.headers
}
