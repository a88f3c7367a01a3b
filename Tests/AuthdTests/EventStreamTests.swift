import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `GET /v1/events/stream`: the feed as Server-Sent Events, against a real authd.
@Suite(.ownThreads) struct EventStreamTests {
    /// Opens a stream from `source` with `headers`; returns the connection.
    static func open(
        _ server: RunningServer, token: String, from source: String = "127.0.0.1", headers: [String: String] = [:]
    ) throws -> LoopbackConnection {
        let connection = try LoopbackConnection(port: server.port, from: source)
        var request = "GET /v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        try connection.send(request + "\r\n")
        return connection
    }

    @Test func aStreamSendsTheLogThenNewEventsAndHeartbeatsAndResumes() async throws {
        let (server, admin) = try await EventFeedTests.serverWithAdmin(arguments: ["--stream-heartbeat", "0.2"])
        let stream = try Self.open(server, token: admin)
        let opening = try #require(stream.receive(until: "event: LoginSucceeded", timeout: 10))
        #expect(opening.contains("200 OK") && opening.lowercased().contains("content-type: text/event-stream"))
        #expect(opening.contains("id: 1\nevent: UserRegistered\ndata: {"))
        // A registration made while the stream is open reaches it.
        let ada = try await EventFeedTests.register(server, "stream@example.com")
        let fresh = try #require(stream.receive(until: "\"stream\":\"\(ada)\"", timeout: 10))
        #expect(fresh.contains("event: UserRegistered"))
        // Heartbeats (comment lines) while nothing happens.
        #expect(stream.receive(until: ": heartbeat\n\n", timeout: 10) != nil)
        // Resuming after event 2 starts at 3.
        let resumed = try Self.open(server, token: admin, headers: ["Last-Event-ID": "2"])
        let text = try #require(resumed.receive(until: "id: 3\n", timeout: 10))
        #expect(!text.contains("id: 1\n") && !text.contains("id: 2\n"))
        let bad = try Self.open(server, token: admin, headers: ["Last-Event-ID": "two"])
        #expect(bad.receive(until: "bad_request", timeout: 10)?.contains("400 Bad Request") == true)
    }

    @Test func streamsAreCappedPerAddressAndInAll() async throws {
        let (server, admin) = try await EventFeedTests.serverWithAdmin(arguments: [
            "--max-streams", "2", "--max-streams-per-address", "1", "--stream-heartbeat", "0.2",
        ])
        let first = try Self.open(server, token: admin, from: "127.0.0.1")
        #expect(first.receive(until: "event: UserRegistered", timeout: 10) != nil)
        let sameAddress = try Self.open(server, token: admin, from: "127.0.0.1")
        let refused = try #require(sameAddress.receive(until: "too_many_streams", timeout: 10))
        #expect(refused.contains("503 Service Unavailable") && refused.lowercased().contains("retry-after:"))
        let second = try Self.open(server, token: admin, from: "127.0.0.2")
        #expect(second.receive(until: "event: UserRegistered", timeout: 10) != nil)
        let third = try Self.open(server, token: admin, from: "127.0.0.3")
        #expect(third.receive(until: "too_many_streams", timeout: 10)?.contains("503") == true)
        // A stream that ends gives its slot back.
        shutdown(first.descriptor, Int32(SHUT_RDWR))
        // A try that was not answered in time is closed, so that it holds no slot itself.
        let again = try await pollUntil(timeout: 60) { () -> LoopbackConnection? in
            let retry = try Self.open(server, token: admin, from: "127.0.0.4")
            if retry.receive(until: "\n\n", timeout: 20)?.contains("200 OK") == true { return retry }
            shutdown(retry.descriptor, Int32(SHUT_RDWR))
            return nil
        }
        #expect(again != nil)
    }
}

extension LoopbackConnection {
    /// What the server sent until `needle` appears, or `nil` if it did not within `timeout` seconds.
    func receive(until needle: String, timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let text = String(decoding: data, as: UTF8.self)
            if text.contains(needle) { return text }
            guard let count = readPolling(descriptor, into: &buffer, until: deadline) else { return nil }
            if count <= 0 { return text.contains(needle) ? text : nil }
            data.append(contentsOf: buffer[0..<count])
        }
    }
}

/// Calls `body` until it returns a value, at most `timeout` seconds, 50 ms apart.
func pollUntil<Value>(timeout: Double, _ body: () async throws -> Value?) async throws -> Value? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let value = try await body() { return value }
        try await Task.sleep(for: .milliseconds(50))
    }
    return nil
}
