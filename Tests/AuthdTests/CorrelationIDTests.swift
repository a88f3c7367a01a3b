import Foundation
import TestSupport
import Testing

/// The correlation id stored with every event is the server's own; a client's X-Request-ID
/// is kept beside it only after length and charset checks.
@Suite(.ownThreads) struct CorrelationIDTests {
    let password = "correct horse battery"

    @Test func aClientRequestIDIsKeptBesideAServerMadeCorrelationID() async throws {
        let server = try RunningServer()
        func register(_ email: String, requestID: String?) async throws -> RunningServer.Reply {
            try await server.call(
                "POST", "/v1/users",
                json: ["email": email, "password": password, "first_name": "C", "last_name": "I"],
                headers: requestID.map { ["X-Request-ID": $0] } ?? [:])
        }
        // Two requests claiming one id get different correlation ids, each naming the client's.
        let first = try await register("one@example.com", requestID: "req-test-42")
        let second = try await register("two@example.com", requestID: "req-test-42")
        let firstID = try #require(first.headers["x-request-id"])
        let secondID = try #require(second.headers["x-request-id"])
        #expect(firstID.hasSuffix(";client=req-test-42") && secondID.hasSuffix(";client=req-test-42"))
        #expect(firstID != secondID && !firstID.hasPrefix("req-test-42"))
        // Ids with other characters, or too long, are dropped; the request still runs.
        let hostile = [
            "evil\"},{\"actor\":\"system", "a b", "x;client=someone-else", String(repeating: "r", count: 65),
        ]
        var dropped: [String] = []
        for (index, id) in hostile.enumerated() {
            let reply = try await register("hostile\(index)@example.com", requestID: id)
            #expect(reply.status == 201)
            let correlation = reply.headers["x-request-id"] ?? ""
            #expect(!correlation.contains("client="), "\(id) was kept: \(correlation)")
            dropped.append(correlation)
        }
        let plain = try await register("plain@example.com", requestID: nil).headers["x-request-id"] ?? ""
        #expect(!plain.isEmpty && !plain.contains(";"))

        server.process.terminate()
        server.process.waitForExit()
        for (email, expected) in [
            ("one@example.com", firstID), ("two@example.com", secondID), ("hostile0@example.com", dropped[0]),
            ("plain@example.com", plain),
        ] {
            let history = try authctlOutput(["--data", server.data, "history", email, "--json"])
            let correlations = history.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["correlation_id"] as? String
            }
            #expect(!correlations.isEmpty && correlations.allSatisfy { $0 == expected }, "\(email): \(correlations)")
        }
    }
}
