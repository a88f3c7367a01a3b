import HTTPTypes
import TestSupport
import Testing

@testable import AuthHTTP

/// `combined(_:)` answers what HTTPTypes' own subscript answers, for a field that is absent,
/// comes once, comes several times (joined), and for the cookie field (joined its own way).
@Suite(.ownThreads) struct HTTPFieldsCombinedTests {
    @Test func answersAsTheSubscriptDoes() throws {
        let cookie = try #require(HTTPField.Name("Cookie"))
        let fields: [HTTPFields] = [
            [:],
            [.contentType: "application/json"],
            [.contentType: "application/json", .contentLength: "12"],
            HTTPFields([
                HTTPField(name: .contentType, value: "application/json"), HTTPField(name: .accept, value: "*/*"),
                HTTPField(name: .contentType, value: "text/plain"),
            ]),
            HTTPFields([HTTPField(name: cookie, value: "a=1"), HTTPField(name: cookie, value: "b=2")]),
            HTTPFields([HTTPField(name: .contentLength, value: "1"), HTTPField(name: .contentLength, value: "1")]),
        ]
        for headers in fields {
            for name in [HTTPField.Name.contentType, .contentLength, .accept, cookie] {
                #expect(headers.combined(name) == headers[name], "\(name) in \(headers)")
            }
        }
        #expect(fields[3].combined(.contentType) == "application/json, text/plain")
    }
}
