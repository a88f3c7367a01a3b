import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The fast reads (`GET /v1/users/me` and `GET /v1/users/{id}` answered on the event loop)
/// pinned to the slow path, on a real authd: the same request, sent once plain (the fast path
/// takes it) and once with `Authlog-Min-Position: 0` (which the fast path never takes and which
/// changes nothing in the answer), must get the same status, the same fields in the same order
/// (Date and X-Request-ID by their form only) and the same body bytes.
@Suite(.ownThreads) struct FastReadsTests {
    /// A response as it came off the wire: the status line, the fields in order, the body.
    struct Wire: Equatable {
        var status: String
        /// Names in lower case, values trimmed (as the fields are compared).
        var fields: [(name: String, value: String)]
        /// The names as written, so that their spelling is compared too.
        var names: [String]
        var body: Data

        init(_ data: Data) throws {
            let split = try #require(data.range(of: Data("\r\n\r\n".utf8)))
            let lines = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
            status = lines[0]
            names = lines.dropFirst().map { String($0[..<$0.firstIndex(of: ":")!]) }
            fields = lines.dropFirst().map { line in
                let colon = line.firstIndex(of: ":")!
                return (
                    line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                )
            }
            body = Data(data[split.upperBound...])
        }

        /// The fields with the values that differ between two answers masked: the date (to
        /// its form) and the request id (to its form: own id, then the client's if kept).
        var comparable: [String] {
            fields.map { field in
                switch field.name {
                case "date":
                    let form = try? Regex(
                        #"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$"#
                    )
                    return "date: " + ((try? form?.wholeMatch(in: field.value)) != nil ? "IMF-fixdate" : field.value)
                case "x-request-id":
                    let client =
                        field.value.split(separator: ";", maxSplits: 1).dropFirst().first.map { ";" + $0 } ?? ""
                    return "x-request-id: own" + client
                default: return "\(field.name): \(field.value)"
                }
            }
        }

        static func == (left: Wire, right: Wire) -> Bool {
            left.status == right.status && left.names == right.names && left.comparable == right.comparable
                && left.body == right.body
        }
    }

    /// One request on a kept-alive connection, read whole.
    func get(_ connection: LoopbackConnection, _ path: String, token: String?, extra: [String] = []) throws -> Wire {
        var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        for line in extra { head += line + "\r\n" }
        try connection.send(head + "\r\n")
        // 60 s: a bound for a failure, not a wait (a loaded CI machine has taken over 10 s).
        return try Wire(try #require(connection.readResponse(timeout: 60), "no answer to \(path)"))
    }

    func fastReads(_ server: RunningServer) async throws -> Int {
        try await server.metric("authlog_http_fast_reads_total")
    }

    /// Registers and signs in `email`, then reads once the slow way, so that the token is
    /// verified and cached and the fast path takes its later reads. The user's id and token.
    func cachedReader(_ accounts: AccountServer, _ email: String) async throws -> (id: String, token: String) {
        let id = try await accounts.register(email)
        let token = try await accounts.login(email)
        #expect(try await accounts.server.call("GET", "/v1/users/me", token: token).status == 200)
        return (id, token)
    }

    /// A server with one reader (``cachedReader(_:_:)``), the fast reads counted so far, and a
    /// connection from `address`, for the tests that send raw requests.
    struct RawReader {
        let accounts: AccountServer
        let id: String
        let token: String
        let before: Int
        let connection: LoopbackConnection
        var server: RunningServer { accounts.server }
        var auth: String { "Authorization: Bearer \(token)\r\n" }
    }

    func rawReader(_ email: String, from address: String) async throws -> RawReader {
        let accounts = try AccountServer()
        let (id, token) = try await cachedReader(accounts, email)
        let before = try await fastReads(accounts.server)
        let connection = try LoopbackConnection(port: accounts.server.port, from: address)
        return RawReader(accounts: accounts, id: id, token: token, before: before, connection: connection)
    }

    @Test func everyFastAnswerIsTheSlowPathsAnswerToTheSameRequest() async throws {
        // One connection carries every request. On a loaded machine this test's task can wait
        // longer than the default idle timeout between two of them, and the server would close
        // the connection under it: the idle timeout is an hour here.
        let accounts = try AccountServer(arguments: [
            "--registration-rate-limit", "1000", "--rate-limit", "1000", "--idle-timeout", "3600",
        ])
        let server = accounts.server
        let admin = try await accounts.adminToken()
        // Users of every kind the route shows: plain, with names that need escaping, with a
        // phone, soft-deleted, erased, a MANAGER.
        let plain = try await accounts.register("plain@example.com")
        let named = try await accounts.register("named@example.com")
        let patched = try await server.call(
            "PATCH", "/v1/users/\(named)",
            json: [
                "first_name": "Zoë \"<script>\" \\ ☃", "last_name": "O'Brien \u{E9}\u{1F600}", "phone": "+14155550123",
            ],
            token: admin)
        #expect(patched.status == 200, "\(String(decoding: patched.body, as: UTF8.self))")
        let deleted = try await accounts.register("deleted@example.com")
        #expect(try await server.call("DELETE", "/v1/users/\(deleted)", token: admin).status == 204)
        let erased = try await accounts.register("erased@example.com")
        #expect(try await server.call("POST", "/v1/users/\(erased)/erase", token: admin).status == 204)
        let (managerID, manager) = try await accounts.manager("manager@example.com", admin: admin)
        let target = try await accounts.login("plain@example.com")
        let credentialOutput = try authctlOutput([
            "--data", server.data, "credentials", "add", "reader", "--scopes", "users:read",
        ])
        let credential = try #require(
            credentialOutput.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("alk_") }.map(String.init))

        let ids = [plain, named, deleted, erased, managerID, UUID().uuidString.lowercased()]
        var paths = ["/v1/users/me"] + ids.map { "/v1/users/\($0)" }
        paths.append("/v1/users/\(plain.uppercased())")  // the fast path's id check takes either case
        paths.append("/v1/users/+" + plain.dropFirst())  // a sign for a digit: refused, never read as an id
        paths.append("/v1/users/\(plain)?as_of=1")  // a query: the slow path's alone
        paths.append("http://127.0.0.1/v1/users/\(plain)")  // the absolute form: the slow path's alone
        let tokens: [(String, String?)] = [
            ("admin", admin), ("manager", manager), ("target", target), ("credential", credential), ("none", nil),
            ("garbled", admin + "x"),
        ]

        // Only a token verified before is taken: the first read with a new token goes the
        // slow way (which verifies and caches it), the next one the fast way.
        let fresh = try await accounts.login("plain@example.com")
        var count = try await fastReads(server)
        // Opened only now: a connection must send its first request within the header timeout
        // (10 s), and a login on a loaded machine has taken longer than that.
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.2")
        #expect(try get(connection, "/v1/users/me", token: fresh).status.hasPrefix("HTTP/1.1 200"))
        #expect(try await fastReads(server) == count)
        #expect(try get(connection, "/v1/users/me", token: fresh).status.hasPrefix("HTTP/1.1 200"))
        count += 1
        #expect(try await fastReads(server) == count)
        for (_, token) in [("admin", admin), ("manager", manager), ("target", target)] {
            _ = try get(connection, "/v1/users/me", token: token, extra: ["Authlog-Min-Position: 0"])
        }
        let before = try await fastReads(server)
        var successes = 0
        var compared = 0
        for (caller, token) in tokens {
            for path in paths {
                // A second Authorization or X-Request-ID: the slow path joins the values.
                for extra in [
                    [], ["X-Request-ID: client-7"], ["Authorization: Bearer \(admin)"],
                    ["X-Request-ID: a", "X-Request-ID: b"],
                ] {
                    let fast = try get(connection, path, token: token, extra: extra)
                    let slow = try get(connection, path, token: token, extra: extra + ["Authlog-Min-Position: 0"])
                    #expect(fast == slow, "\(caller) \(path) \(extra): \(fast.comparable) vs \(slow.comparable)")
                    // Taken by the fast path: no query, no field twice.
                    let authorizations = (token == nil ? 0 : 1) + extra.filter { $0.hasPrefix("Authorization") }.count
                    // A service credential always goes the slow way.
                    let plain =
                        !path.contains("?") && path.hasPrefix("/") && extra.count <= 1 && authorizations <= 1
                        && caller != "credential"
                    if fast.status.hasPrefix("HTTP/1.1 200"), plain { successes += 1 }
                    compared += 1
                }
            }
        }
        #expect(compared == tokens.count * paths.count * 4)
        // Every 200 of a plain request came from the fast path, and nothing else did.
        #expect(successes > 20)
        #expect(try await fastReads(server) - before == successes)
        // The +-signed id is no one's: Foundation's parser would have read it as `plain`'s.
        let signed = try get(connection, "/v1/users/+" + plain.dropFirst(), token: admin)
        #expect(signed.status.hasPrefix("HTTP/1.1 404"))
    }

    /// The Bearer scheme's name is case-insensitive (RFC 9110, section 11.1): `bearer` and
    /// `BEARER` are taken as `Bearer` is, by the fast reads and the slow path alike. Before,
    /// both answered 401. Another scheme is still 401.
    @Test func theBearerSchemeIsTakenInAnyCase() async throws {
        let reader = try await rawReader("scheme@example.com", from: "127.0.0.9")
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            try reader.connection.send(
                "GET /v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: \(scheme) \(reader.token)\r\n\r\n")
            let fast = try Wire(try #require(reader.connection.readResponse(timeout: 60)))
            #expect(fast.status.hasPrefix("HTTP/1.1 200"), "\(scheme): \(fast.status)")
            // The slow path: a request the fast reads pass on (it waits for a position).
            try reader.connection.send(
                "GET /v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: \(scheme) \(reader.token)\r\n"
                    + "Authlog-Min-Position: 1\r\n\r\n")
            let slow = try Wire(try #require(reader.connection.readResponse(timeout: 60)))
            #expect(slow.status.hasPrefix("HTTP/1.1 200"), "\(scheme), slow: \(slow.status)")
        }
        #expect(try await fastReads(reader.server) >= reader.before + 3)
        // The last: a combining mark after the space is no part of the scheme's, and makes the
        // token another.
        let refusals = [
            "Basic \(reader.token)", "Bearer\(reader.token)", "Bearers \(reader.token)",
            "Bearer \u{301}\(reader.token)",
        ]
        for header in refusals {
            try reader.connection.send("GET /v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: \(header)\r\n\r\n")
            let refused = try Wire(try #require(reader.connection.readResponse(timeout: 60)))
            #expect(refused.status.hasPrefix("HTTP/1.1 401"), "\(header.prefix(8)): \(refused.status)")
        }
    }

    /// The fast path reads fields as NIO's decoder gives them; the slow path reads them after
    /// HTTP types rewrote a value they would not keep (the bad bytes to spaces, then trimmed).
    /// A value of that kind must send the request the slow way, or the two answers differ.
    @Test func aValueHTTPTypesWouldRewriteGoesTheSlowWay() async throws {
        let accounts = try AccountServer(arguments: ["--idle-timeout", "3600"])
        let server = accounts.server
        _ = try await accounts.register("spaces@example.com")
        let token = try await accounts.login("spaces@example.com")
        #expect(try await server.call("GET", "/v1/users/me", token: token).status == 200)  // verified: cached
        // A connection each: the decoder may refuse a value outright, and close the connection.
        func get(_ token: String, _ extra: [String]) throws -> Wire {
            try self.get(
                LoopbackConnection(port: server.port, from: "127.0.0.5"), "/v1/users/me", token: token, extra: extra)
        }
        // Kept as they are: taken, and answered as the slow path answers.
        for extra in [["X-Request-ID: kept-1"], ["X-Request-ID: k\u{80}e"]] {
            let before = try await fastReads(server)
            let fast = try get(token, extra)
            let slow = try get(token, extra + ["Authlog-Min-Position: 0"])
            #expect(fast == slow, "\(extra): \(fast.comparable) vs \(slow.comparable)")
            #expect(try await fastReads(server) == before + 1, "\(extra)")
        }
        // Rewritten by HTTP types: a space or a tab last. (NIO's decoder refuses a control
        // character in a value itself, and strips blanks before one, so only these reach here.)
        // The slow path keeps the trimmed request id; read raw, it would not be kept.
        for extra in [["X-Request-ID: client-7 "], ["X-Request-ID: client-7\t"]] {
            let before = try await fastReads(server)
            let fast = try get(token, extra)
            let slow = try get(token, extra + ["Authlog-Min-Position: 0"])
            #expect(fast == slow, "\(extra): \(fast.comparable) vs \(slow.comparable)")
            #expect(slow.fields.contains { $0.name == "x-request-id" && $0.value.hasSuffix(";client=client-7") })
            #expect(try await fastReads(server) == before, "\(extra)")
        }
        // A field the fast path never takes, named in another case, is still seen.
        for extra in [["AUTHLOG-min-position: 0"], ["CONNECTION: keep-alive"], ["content-LENGTH: 0"]] {
            let before = try await fastReads(server)
            #expect(try get(token, extra).status.hasPrefix("HTTP/1.1 200"), "\(extra)")
            #expect(try await fastReads(server) == before, "\(extra)")
        }
    }

    @Test func pipelinedRequestsAreAnsweredInTheirOrder() async throws {
        let accounts = try AccountServer()
        let server = accounts.server
        let first = try await accounts.register("first@example.com")
        let token = try await accounts.login("first@example.com")
        // Verified once (and so cached), so that the fast path may take its later reads.
        #expect(try await server.call("GET", "/v1/users/me", token: token).status == 200)
        // A slow request that waits (up to 2 s) for a position the log has not reached, then
        // two the fast path would take, all in one write: the answers must keep that order.
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.3")
        let auth = "Authorization: Bearer \(token)\r\n"
        try connection.send(
            "GET /v1/users/\(first) HTTP/1.1\r\nHost: x\r\n\(auth)Authlog-Min-Position: 1000000000\r\n\r\n"
                + "GET /v1/users/me HTTP/1.1\r\nHost: x\r\n\(auth)\r\n"
                + "GET /v1/users/\(first) HTTP/1.1\r\nHost: x\r\n\(auth)X-Request-ID: third\r\n\r\n")
        let answers = try connection.readResponses(3, timeout: 15).map(Wire.init)
        try #require(answers.count == 3, "answers: \(answers.map(\.status))")
        #expect(answers[0].status.hasPrefix("HTTP/1.1 503"))
        #expect(answers[1].status.hasPrefix("HTTP/1.1 200"))
        #expect(answers[2].status.hasPrefix("HTTP/1.1 200"))
        #expect(answers[2].fields.contains { $0.name == "x-request-id" && $0.value.hasSuffix(";client=third") })
    }

    /// Fast answers are flushed after the loop's reads, not at once: two fast reads sent with
    /// the input's end right behind them are still both answered before the server closes.
    @Test func aClientThatEndsItsSendingStillGetsItsFastAnswers() async throws {
        let reader = try await rawReader("half-read@example.com", from: "127.0.0.6")
        let connection = reader.connection
        try connection.send(
            "GET /v1/users/me HTTP/1.1\r\nHost: x\r\n\(reader.auth)\r\n"
                + "GET /v1/users/\(reader.id) HTTP/1.1\r\nHost: x\r\n\(reader.auth)\r\n")
        connection.finishSending()
        let answers = try connection.readResponses(2, timeout: 15).map(Wire.init)
        #expect(answers.map { $0.status.prefix(12) } == ["HTTP/1.1 200", "HTTP/1.1 200"], "\(answers.map(\.status))")
        #expect(connection.readUntilClosed(timeout: 10) != nil, "still open after the input's end")
        #expect(try await fastReads(reader.server) - reader.before == 2)
    }

    /// A fast read, a read the slow path takes, and one the fast path could take, in one
    /// write: the first answer waits for the loop's turn to end, the second is Hummingbird's,
    /// and they leave in the order of the requests.
    @Test func aFastAnswerWaitingForItsFlushKeepsItsPlaceBeforeASlowOne() async throws {
        let reader = try await rawReader("in-order@example.com", from: "127.0.0.8")
        let auth = reader.auth
        try reader.connection.send(
            "GET /v1/users/me HTTP/1.1\r\nHost: x\r\n\(auth)X-Request-ID: one\r\n\r\n"
                + "GET /v1/users/\(reader.id) HTTP/1.1\r\nHost: x\r\n\(auth)Authlog-Min-Position: 0\r\nX-Request-ID: two\r\n\r\n"
                + "GET /v1/users/me HTTP/1.1\r\nHost: x\r\n\(auth)X-Request-ID: three\r\n\r\n")
        let answers = try reader.connection.readResponses(3, timeout: 60).map(Wire.init)
        try #require(answers.count == 3, "answers: \(answers.map(\.status))")
        for (answer, name) in zip(answers, ["one", "two", "three"]) {
            #expect(answer.status.hasPrefix("HTTP/1.1 200"), "\(name): \(answer.status)")
            let echoed = answer.fields.contains { $0.name == "x-request-id" && $0.value.hasSuffix(";client=\(name)") }
            #expect(echoed, "\(name)")
        }
        // Only the first was the fast path's: the third came while the second was unanswered.
        #expect(try await fastReads(reader.server) - reader.before == 1)
    }

    /// Bytes that are no HTTP right after a fast read, in one write: the read's answer, not
    /// flushed yet when the error comes, is not lost and goes out first (the error's answer,
    /// Hummingbird's, is written after it).
    @Test func aDecodingErrorAfterAFastReadIsAnsweredAfterIt() async throws {
        let reader = try await rawReader("garbled@example.com", from: "127.0.0.7")
        try reader.connection.send("GET /v1/users/me HTTP/1.1\r\nHost: x\r\n\(reader.auth)\r\nNOT HTTP AT ALL\r\n\r\n")
        let answers = try reader.connection.readResponses(2, timeout: 15).map(Wire.init)
        try #require(answers.count == 2, "\(answers.map(\.status))")
        #expect(answers[0].status.hasPrefix("HTTP/1.1 200"), "\(answers[0].status)")
        #expect(answers[1].status.hasPrefix("HTTP/1.1 400"), "\(answers[1].status)")
        #expect(try await fastReads(reader.server) - reader.before == 1)
    }

    /// A client that sends reads and never reads the answers: the server must stop reading
    /// its requests once the answers back up, not answer them into memory without bound.
    @Test func aClientThatNeverReadsItsAnswersIsNotReadWithoutBound() async throws {
        let accounts = try AccountServer()
        let server = accounts.server
        let token = try await cachedReader(accounts, "flood@example.com").token
        let request = "GET /v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\r\n"
        let (stalled, sent) = try floodWithoutReading(port: server.port, request)
        #expect(stalled, "the server took \(sent) bytes of requests whose answers were never read")
    }

    @Test func aReadAskingToCloseIsAnsweredAndClosed() async throws {
        let accounts = try AccountServer()
        let server = accounts.server
        _ = try await accounts.register("closer@example.com")
        let token = try await accounts.login("closer@example.com")
        let before = try await fastReads(server)
        let reply = try exchange(
            port: server.port, from: "127.0.0.4", "GET", "/v1/users/me", headers: ["Authorization": "Bearer \(token)"])
        #expect(reply.status == 200)
        #expect(reply.json["email"] as? String == "closer@example.com")
        // Connection: close goes the slow way, which closes after the answer.
        #expect(try await fastReads(server) == before)
    }
}
