import Foundation
import HTTPTypes
import NIOHTTP1
import NIOHTTPTypesHTTP1
import TestSupport
import Testing

@testable import AuthHTTP

/// The direct writes (`POST /v1/sessions/refresh` handed to the router by the connection's
/// handler) pinned to the slow path, on a real authd: each case is sent twice, to sessions in
/// the same state, once plain (the direct path takes it) and once with
/// `Authlog-Min-Position: 0` (which the direct path never takes and which changes nothing in
/// the answer). Both answers must have the same status, the same fields in the same order
/// (Date, X-Request-ID and Authlog-Position by their form only) and the same body: the same
/// bytes for a problem, the same fields and token forms for new tokens.
@Suite(.ownThreads) struct DirectWritesTests {
    typealias Wire = FastReadsTests.Wire

    /// The fields as ``Wire/comparable`` gives them, with the log position masked too.
    static func comparable(_ wire: Wire) -> [String] {
        wire.comparable.map { field in
            guard field.hasPrefix("authlog-position: ") else { return field }
            return field.dropFirst(18).allSatisfy(\.isNumber) ? "authlog-position: digits" : field
        }
    }

    /// A body with new tokens reduced to its form; any other body as it is.
    static func bodyForm(_ wire: Wire) -> String {
        guard wire.status.hasPrefix("HTTP/1.1 200"),
            let object = try? JSONSerialization.jsonObject(with: wire.body) as? [String: Any]
        else { return String(decoding: wire.body, as: UTF8.self) }
        return object.keys.sorted().map { key in
            let value = object[key]
            if let text = value as? String, key.hasSuffix("_token") {
                return "\(key): \(text.split(separator: ".", omittingEmptySubsequences: false).map(\.count))"
            }
            return "\(key): \(value ?? "nil")"
        }.joined(separator: ", ")
    }

    static func post(
        _ connection: LoopbackConnection, body: String, contentType: String? = "application/json",
        extra: [String] = [], name: String = "a rotation"
    ) throws -> Wire {
        var head = "POST /v1/sessions/refresh HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        head += "Content-Length: \(body.utf8.count)\r\n"
        for line in extra { head += line + "\r\n" }
        try connection.send(head + "\r\n" + body)
        // 60 s: a bound for a failure, not a wait (a loaded CI machine has taken over 10 s).
        return try Wire(try #require(connection.readResponse(timeout: 60), "no answer to \(name) \(extra)"))
    }

    /// The direct path's conversion of a request head it takes is the slow path codec's:
    /// Host fields first, later, twice, in another case, or missing; cookies; repeated fields;
    /// a Host value with bytes a field may not hold, and a name HTTP types refuse.
    @Test(arguments: [
        [("Host", "127.0.0.1"), ("Content-Length", "20")],
        [("Content-Length", "20"), ("host", "example.com:8080"), ("Accept", "*/*")],
        [("HOST", "a"), ("Host", "b"), ("Content-Length", "2")],
        [("Content-Length", "20")],
        [("Host", "h"), ("Cookie", "a=1; b=2"), ("X-Thing", "1"), ("X-Thing", "2"), ("Content-Length", "9")],
        [("Host", "a b\u{7F}é"), ("Host", ""), ("Bad Name", "x"), ("Content-Length", "2")],
    ])
    func theConversionIsTheCodecs(fields: [(String, String)]) throws {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: DirectWrites.refreshRoute)
        for (name, value) in fields { head.headers.add(name: name, value: value) }
        let slow = try HTTPRequest(head, secure: false, splitCookie: false)
        let fast = DirectWrites.request(head)
        #expect(fast == slow)
        #expect(fast.authority == slow.authority && fast.path == slow.path && fast.scheme == slow.scheme)
        #expect(Array(fast.headerFields) == Array(slow.headerFields))
    }

    static func directWrites(_ server: RunningServer) async throws -> Int {
        try await server.metric("authlog_http_direct_writes_total")
    }

    /// A server (made with `arguments`, if given) with one user, `email`, registered and
    /// signed in: the server and that session's refresh token.
    static func signedIn(_ email: String, arguments: [String]? = nil) async throws -> (
        server: RunningServer, token: String
    ) {
        let accounts = try arguments.map { try AccountServer(arguments: $0) } ?? AccountServer()
        _ = try await accounts.register(email)
        return (accounts.server, try await accounts.session(email).refresh)
    }

    @Test func everyDirectAnswerIsTheSlowPathsAnswerToTheSameRequest() async throws {
        let accounts = try AccountServer(arguments: [
            "--registration-rate-limit", "1000", "--rate-limit", "1000", "--idle-timeout", "3600",
            "--refresh-grace", "0",
        ])
        let server = accounts.server
        _ = try await accounts.register("rotating@example.com")
        // Opened after the first login: a connection must send its first request within the
        // header timeout (10 s), and a login on a loaded machine has taken longer than that.
        var opened: LoopbackConnection?

        /// Each case makes the body it sends from a new session (and may use the session first).
        struct Case {
            var name: String
            var contentType: String? = "application/json"
            var extra: [String] = []
            /// Taken by the direct path when sent plain.
            var taken = true
            var body: (String) -> String
        }
        let cases: [Case] = [
            Case(name: "a rotation") { #"{"refresh_token":"\#($0)"}"# },
            Case(name: "with a request id", extra: ["X-Request-ID: client-7"]) { #"{"refresh_token":"\#($0)"}"# },
            Case(name: "spaced JSON") { "{ \"refresh_token\" : \"\($0)\" }\n" },
            Case(name: "a garbled token") { "{\"refresh_token\":\"\($0.dropLast(3))xyz\"}" },
            Case(name: "not a token") { _ in #"{"refresh_token":"nothing.here"}"# },
            Case(name: "an unknown field") { #"{"refresh_token":"\#($0)","scope":"all"}"# },
            Case(name: "no field") { _ in "{}" },
            Case(name: "not JSON") { _ in "refresh_token=abc" },
            Case(name: "not a JSON type", contentType: "text/plain") { #"{"refresh_token":"\#($0)"}"# },
            Case(name: "no content type", contentType: nil) { #"{"refresh_token":"\#($0)"}"# },
            Case(name: "over the body limit", taken: false) { _ in
                #"{"refresh_token":""# + String(repeating: "a", count: 70_000) + #""}"#
            },
        ]
        let before = try await Self.directWrites(server)
        var taken = 0
        for item in cases {
            var answers: [Wire] = []
            for slow in [false, true] {
                let token = try await accounts.session("rotating@example.com").refresh
                let connection = try opened ?? LoopbackConnection(port: server.port, from: "127.0.0.2")
                opened = connection
                answers.append(
                    try Self.post(
                        connection, body: item.body(token), contentType: item.contentType,
                        extra: item.extra + (slow ? ["Authlog-Min-Position: 0"] : []), name: item.name))
            }
            if item.taken { taken += 1 }
            let (direct, slow) = (answers[0], answers[1])
            #expect(direct.status == slow.status, "\(item.name): \(direct.status) vs \(slow.status)")
            #expect(
                Self.comparable(direct) == Self.comparable(slow),
                "\(item.name): \(Self.comparable(direct)) vs \(Self.comparable(slow))")
            #expect(Self.bodyForm(direct) == Self.bodyForm(slow), "\(item.name)")
        }
        // A token presented again after its rotation: refused, and its session ended, both ways.
        let connection = try #require(opened)
        for slow in [false, true] {
            let first = try await accounts.session("rotating@example.com").refresh
            let rotated = try Self.post(connection, body: #"{"refresh_token":"\#(first)"}"#)
            #expect(rotated.status.hasPrefix("HTTP/1.1 200"))
            let next = try #require(
                (try JSONSerialization.jsonObject(with: rotated.body) as? [String: Any])?["refresh_token"] as? String)
            let extra = slow ? ["Authlog-Min-Position: 0"] : []
            let replayed = try Self.post(connection, body: #"{"refresh_token":"\#(first)"}"#, extra: extra)
            #expect(replayed.status.hasPrefix("HTTP/1.1 401"), "\(slow): \(replayed.status)")
            #expect(Self.bodyForm(replayed).contains("\"invalid_token\""))
            #expect(replayed.fields.contains { $0.name == "authlog-position" }, "the refusal recorded an event")
            let after = try Self.post(connection, body: #"{"refresh_token":"\#(next)"}"#, extra: extra)
            #expect(after.status.hasPrefix("HTTP/1.1 401"), "the family is revoked: \(after.status)")
            taken += slow ? 1 : 3  // the first rotation is sent plain both times
        }
        #expect(try await Self.directWrites(server) - before == taken)
    }

    /// Direct writes are counted in `/metrics` under their route, as the router counts the
    /// requests it answers (the router's look-up, which names the route, is not run for them).
    @Test func directWritesAreCountedUnderTheirRoute() async throws {
        let (server, first) = try await Self.signedIn("counted@example.com")
        var token = first
        let before = try await Self.directWrites(server)
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.4")
        for _ in 0..<3 {
            let answer = try Self.post(connection, body: #"{"refresh_token":"\#(token)"}"#)
            #expect(answer.status.hasPrefix("HTTP/1.1 200"), "\(answer.status)")
            token = try #require(
                (try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["refresh_token"] as? String)
        }
        let refused = try Self.post(connection, body: #"{"refresh_token":"nothing.here"}"#)
        #expect(refused.status.hasPrefix("HTTP/1.1 401"), "\(refused.status)")
        #expect(try await Self.directWrites(server) - before == 4)
        let page = String(decoding: try await server.call("GET", "/metrics").body, as: UTF8.self)
        let labels = #"method="POST",route="/v1/sessions/refresh""#
        #expect(page.contains("authlog_http_requests_total{\(labels),status=\"200\"} 3\n"), "\(page)")
        #expect(page.contains("authlog_http_requests_total{\(labels),status=\"401\"} 1\n"), "\(page)")
        #expect(page.contains("authlog_http_request_duration_seconds_count{\(labels)} 4\n"), "\(page)")
    }

    /// Requests in one write, direct and not, are answered in the order they were sent.
    @Test func pipelinedRequestsAreAnsweredInTheirOrder() async throws {
        let accounts = try AccountServer()
        let server = accounts.server
        // Three users: a user has one refresh token at a time, so a second login would end the first.
        var tokens: [String] = []
        for name in ["one", "two", "three"] {
            _ = try await accounts.register("\(name)@example.com")
        }
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "three@example.com", "password": AccountServer.password])
        let access = try #require(login.json["access_token"] as? String)
        tokens.append(try await accounts.session("one@example.com").refresh)
        tokens.append(try await accounts.session("two@example.com").refresh)
        tokens.append(try #require(login.json["refresh_token"] as? String))
        func rotation(_ token: String, id: String) -> String {
            let body = #"{"refresh_token":"\#(token)"}"#
            return "POST /v1/sessions/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "X-Request-ID: \(id)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        let before = try await Self.directWrites(server)
        // Opened only now: a connection must send its first request within the header timeout
        // (10 s), and a call on a loaded machine has taken longer than that.
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.3")
        // A direct write; another, which waits behind it and is then taken directly too; a
        // request Hummingbird answers at once, which must not overtake them; a read that waits
        // (up to 2 s) for a position the log has not reached; and a rotation behind it, which
        // goes Hummingbird's way.
        try connection.send(
            rotation(tokens[0], id: "1") + rotation(tokens[1], id: "2")
                + "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: 3\r\n\r\n"
                + "GET /v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(access)\r\n"
                + "Authlog-Min-Position: 1000000000\r\nX-Request-ID: 4\r\n\r\n"
                + rotation(tokens[2], id: "5"))
        // 60 s: a bound for a failure, not a wait.
        let answers = try connection.readResponses(5, timeout: 60).map(Wire.init)
        try #require(answers.count == 5, "answers: \(answers.map(\.status))")
        let ids = answers.map { answer in
            answer.fields.first { $0.name == "x-request-id" }?.value.split(separator: "=").last.map(String.init)
        }
        #expect(ids == ["1", "2", "3", "4", "5"])
        #expect(
            answers.map { $0.status.prefix(12) } == [
                "HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 503", "HTTP/1.1 200",
            ],
            "\(answers.map { String(decoding: $0.body, as: UTF8.self) })")
        #expect(try await Self.directWrites(server) - before == 2)
    }

    /// A client that sends rotations and never reads the answers: the server must stop reading
    /// its requests once the answers back up, not answer them into memory without bound.
    @Test func aClientThatNeverReadsItsAnswersIsNotReadWithoutBound() async throws {
        let server = try RunningServer(arguments: ["--rate-limit", "100000000"])
        let body = #"{"refresh_token":"not.a-token"}"#
        let request =
            "POST /v1/sessions/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let before = try await Self.directWrites(server)
        let (stalled, sent) = try floodWithoutReading(port: server.port, request)
        #expect(stalled, "the server took \(sent) bytes of requests whose answers were never read")
        // Hundreds of answers fit in the two sockets' buffers before the connection backs up.
        #expect(try await Self.directWrites(server) - before >= 64, "the direct path took them")
    }

    /// A rotation whose body never comes whole is closed at the body's deadline, unanswered,
    /// and nothing is rotated.
    @Test func aHalfSentRotationIsClosedAtItsDeadline() async throws {
        let (server, token) = try await Self.signedIn(
            "half@example.com", arguments: ["--body-timeout", "1", "--rate-limit", "1000"])
        let body = #"{"refresh_token":"\#(token)"}"#
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.4")
        try connection.send(
            "POST /v1/sessions/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n" + body.dropLast(5))
        let closed = try #require(connection.readUntilClosed(timeout: 30), "still open")
        #expect(closed.isEmpty)
        // The token was never presented: it still rotates.
        let rotated = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": token])
        #expect(rotated.status == 200)
    }

    static func rotationRequest(_ token: String, extra: [String] = []) -> String {
        let body = #"{"refresh_token":"\#(token)"}"#
        return "POST /v1/sessions/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + extra.map { $0 + "\r\n" }.joined() + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    /// A shutdown asks every connection to finish; Hummingbird closes at once those with no
    /// request under way, and never sees a direct write. One whose body is still coming must
    /// be waited for and answered, as the slow path waits.
    @Test func aShutdownWaitsForADirectWriteUnderWay() async throws {
        let accounts = try AccountServer()
        let server = accounts.server
        _ = try await accounts.register("late@example.com")
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "late@example.com", "password": AccountServer.password])
        let access = try #require(login.json["access_token"] as? String)
        let token = try #require(login.json["refresh_token"] as? String)
        // Verified once, so that the event loop answers the same read itself (a fast read).
        #expect(try await server.call("GET", "/v1/users/me", token: access).status == 200)
        let request = Self.rotationRequest(token)
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.5")
        // A fast read and most of a rotation in one write: the loop answers the read while it
        // decodes that write, so once the read's answer is here the rotation's head has been
        // taken, before the shutdown below can reach the connection (it runs on the same loop).
        try connection.send(
            "GET /v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(access)\r\n\r\n"
                + String(request.dropLast(10)))
        let read = try Wire(try #require(connection.readResponse(timeout: 60), "no answer to the read"))
        #expect(read.status.hasPrefix("HTTP/1.1 200"))
        server.process.terminate()  // SIGTERM
        // The shutdown has begun once the listener refuses new connections.
        let deadline = Date().addingTimeInterval(30)
        var refused = false
        while !refused, Date() < deadline {
            refused = (try? LoopbackConnection(port: server.port, from: "127.0.0.6")) == nil
            if !refused { try await Task.sleep(for: .milliseconds(20)) }
        }
        try #require(refused, "the listener still took connections 30 s after SIGTERM")
        #expect(connection.readUntilClosed(timeout: 2) == nil, "closed under a request under way")
        try connection.send(String(request.suffix(10)))
        let answer = try Wire(try #require(connection.readResponse(timeout: 60), "no answer"))
        #expect(answer.status.hasPrefix("HTTP/1.1 200"), "\(answer.status)")
        // Then the shutdown goes on: the connection is closed at once (not at its idle
        // timeout, a minute), and authd exits.
        #expect(connection.readUntilClosed(timeout: 10) != nil, "still open after the answer")
        let exit = Date().addingTimeInterval(60)
        while server.process.isRunning, Date() < exit { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!server.process.isRunning && server.process.terminationStatus == 0)
    }

    /// A client that sends a rotation and another request, then ends its side of the
    /// connection at once, gets both answers before the server closes.
    @Test func aClientThatEndsItsSendingStillGetsItsAnswers() async throws {
        let (server, token) = try await Self.signedIn("half-closed@example.com")
        let before = try await Self.directWrites(server)
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.7")
        try connection.send(Self.rotationRequest(token) + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        connection.finishSending()
        let answers = try connection.readResponses(2, timeout: 60).map(Wire.init)
        #expect(answers.map { $0.status.prefix(12) } == ["HTTP/1.1 200", "HTTP/1.1 200"], "\(answers.map(\.status))")
        // Then the server closes: the input's end reached Hummingbird after the answers.
        #expect(connection.readUntilClosed(timeout: 10) != nil, "still open after the input's end")
        #expect(try await Self.directWrites(server) - before == 1)
    }

    /// What a client sends on its own, behind a rotation, while that rotation may still be
    /// answered (another rotation, a request Hummingbird answers, the input's end, each in a
    /// write of its own): the socket is read on while the answer is owed, and whatever came is
    /// taken up after it, in order. Whether each write arrives before the answer or after it
    /// depends on the machine; the answers may not.
    @Test func whatComesOnItsOwnBehindARotationIsAnsweredAfterItInOrder() async throws {
        let accounts = try AccountServer()
        let server = accounts.server
        for name in ["first", "second"] { _ = try await accounts.register("\(name)@example.com") }
        let first = try await accounts.session("first@example.com").refresh
        let second = try await accounts.session("second@example.com").refresh
        let before = try await Self.directWrites(server)
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.8")
        try connection.send(Self.rotationRequest(first, extra: ["X-Request-ID: 1"]))
        try connection.send(Self.rotationRequest(second, extra: ["X-Request-ID: 2"]))
        try connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: 3\r\n\r\n")
        connection.finishSending()
        // 60 s: a bound for a failure, not a wait.
        let answers = try connection.readResponses(3, timeout: 60).map(Wire.init)
        try #require(answers.count == 3, "answers: \(answers.map(\.status))")
        let ids = answers.map { answer in
            answer.fields.first { $0.name == "x-request-id" }?.value.split(separator: "=").last.map(String.init)
        }
        #expect(ids == ["1", "2", "3"])
        #expect(answers.allSatisfy { $0.status.hasPrefix("HTTP/1.1 200") }, "\(answers.map(\.status))")
        #expect(connection.readUntilClosed(timeout: 10) != nil, "still open after the input's end")
        #expect(try await Self.directWrites(server) - before == 2)
    }

    /// Bytes that are no HTTP after a rotation: the rotation is answered first, then the
    /// error, as the slow path would answer them.
    @Test func aDecodingErrorAfterARotationIsAnsweredAfterIt() async throws {
        let (server, token) = try await Self.signedIn("garbage@example.com")
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.8")
        try connection.send(Self.rotationRequest(token) + "NOT HTTP AT ALL\r\n\r\n")
        let answers = try connection.readResponses(2, timeout: 60).map(Wire.init)
        try #require(answers.count == 2, "\(answers.map(\.status))")
        #expect(answers[0].status.hasPrefix("HTTP/1.1 200"), "\(answers[0].status)")
        #expect(answers[1].status.hasPrefix("HTTP/1.1 400"), "\(answers[1].status)")
    }

    /// Rotations not in the plain form go Hummingbird's way, and are answered there.
    @Test func rotationsNotInThePlainFormGoTheSlowWay() async throws {
        let accounts = try AccountServer()
        let server = accounts.server
        _ = try await accounts.register("forms@example.com")
        let before = try await Self.directWrites(server)
        var statuses: [String] = []
        for (index, form) in ["close", "expect", "chunked", "empty", "query"].enumerated() {
            let token = try await accounts.session("forms@example.com").refresh
            let body = #"{"refresh_token":"\#(token)"}"#
            let request: String
            switch form {
            case "close": request = Self.rotationRequest(token, extra: ["Connection: close"])
            case "expect": request = Self.rotationRequest(token, extra: ["Expect: 100-continue"])
            case "chunked":
                request =
                    "POST /v1/sessions/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n\(String(body.utf8.count, radix: 16))\r\n\(body)\r\n0\r\n\r\n"
            case "empty":
                request =
                    "POST /v1/sessions/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 0\r\n\r\n"
            default:
                request =
                    "POST /v1/sessions/refresh?next=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            }
            let connection = try LoopbackConnection(port: server.port, from: "127.0.0.\(10 + index)")
            try connection.send(request)
            // An interim 100 (Continue), should one come, is read past.
            var answer = try Wire(try #require(connection.readResponse(timeout: 60), "\(form): no answer"))
            if answer.status.hasPrefix("HTTP/1.1 100") {
                answer = try Wire(try #require(connection.readResponse(timeout: 60), "\(form): no answer"))
            }
            statuses.append("\(form) \(answer.status.prefix(12))")
        }
        #expect(
            statuses == [
                "close HTTP/1.1 200", "expect HTTP/1.1 200", "chunked HTTP/1.1 200", "empty HTTP/1.1 400",
                "query HTTP/1.1 200",
            ])
        #expect(try await Self.directWrites(server) == before)
    }
}
