import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An attacker's tools against the running service: guessing, flooding, slow sending, forged
/// headers and guessed tokens. Each client address is a loopback address of its own.
@Suite(.ownThreads) struct AbuseTests {
    let password = "correct horse battery"

    func register(_ server: RunningServer, _ email: String) async throws {
        let reply = try await server.call(
            "POST", "/v1/users", json: ["email": email, "password": password, "first_name": "A", "last_name": "B"])
        #expect(reply.status == 201, "register \(email): \(reply.status)")
    }

    /// `POST /v1/sessions` as owner@example.com with `password`, from the loopback address
    /// `source`, through it as a proxy for `forwardedFor` when given.
    func login(
        _ server: RunningServer, from source: String, forwardedFor: String? = nil, _ password: String
    ) throws -> RunningServer.Reply {
        try exchange(
            port: server.port, from: source, "POST", "/v1/sessions",
            json: ["email": "owner@example.com", "password": password],
            headers: forwardedFor.map { ["X-Forwarded-For": $0] } ?? [:])
    }

    /// A 429 or 503 as the contract states it: problem+json with its code, and Retry-After.
    func expectRefusal(_ reply: RunningServer.Reply, status: Int, code: String) {
        #expect(reply.status == status)
        #expect(reply.headers["content-type"] == "application/problem+json")
        #expect(reply.code == code)
        #expect((Int(reply.headers["retry-after"] ?? "") ?? 0) >= 1)
    }

    @Test func fiftyWrongPasswordsFromOneAddressDoNotLockTheOwnerOut() async throws {
        let server = try RunningServer()
        try await register(server, "owner@example.com")
        var statuses: [Int] = []
        for _ in 0..<50 {
            let reply = try exchange(
                port: server.port, from: "127.0.0.2", "POST", "/v1/sessions",
                json: ["email": "owner@example.com", "password": "not the password at all"])
            statuses.append(reply.status)
            if reply.status == 429 { expectRefusal(reply, status: 429, code: "rate_limited") }
        }
        // The guessing address is slowed after its first ten failures ...
        #expect(statuses.filter { $0 == 401 }.count == 10)
        #expect(statuses.filter { $0 == 429 }.count == 40)
        // ... and the owner, elsewhere, signs in.
        let owner = try exchange(
            port: server.port, from: "127.0.0.3", "POST", "/v1/sessions",
            json: ["email": "owner@example.com", "password": password])
        #expect(owner.status == 200 && owner.json["access_token"] is String)
        // Each counted failure is in the history, none with a lock.
        let history = try authctlOutput(["--data", server.data, "history", "owner@example.com", "--json"])
        #expect(history.components(separatedBy: "LoginFailed").count - 1 == 10)
        #expect(!history.contains(#""locked_until":"2"#))
    }

    /// One IPv6 site (a /56 here, each /64 of it a client of its own) guessing at an account:
    /// its /64s together get five times one client's wrong passwords, so it cannot use up the
    /// account's limit alone and slow the owner.
    @Test func oneIPv6SiteCannotUseUpAnAccountsWrongPasswords() async throws {
        let server = try RunningServer(arguments: [
            "--trusted-proxy", "127.0.0.2/32", "--login-failures-per-address", "1",
            "--login-failures-per-account", "12",
        ])
        try await register(server, "owner@example.com")
        var statuses: [Int] = []
        for subnet in 0..<12 {
            let client = "2001:db8:0:1" + String(format: "%02x", subnet) + ":5::1"
            statuses.append(
                try login(server, from: "127.0.0.2", forwardedFor: client, "not the password at all").status)
        }
        #expect(statuses.filter { $0 == 401 }.count == 5, "\(statuses)")
        #expect(statuses.filter { $0 == 429 }.count == 7, "\(statuses)")
        let owner = try login(server, from: "127.0.0.3", password)
        #expect(owner.status == 200 && owner.json["access_token"] is String)
    }

    /// A neighbour in the owner's IPv6 site (another /64 of the same /48) uses up the site's
    /// wrong passwords: the owner, at the /64 they signed in from before, still signs in, and
    /// their own /64's bucket was never the neighbour's to use.
    @Test func aNeighbourInTheOwnersSiteCannotSlowTheOwnerWhereTheyHaveSignedIn() async throws {
        let server = try RunningServer(arguments: [
            "--trusted-proxy", "127.0.0.2/32", "--login-failures-per-address", "2",
        ])
        try await register(server, "owner@example.com")
        func login(from client: String, _ password: String) throws -> RunningServer.Reply {
            try self.login(server, from: "127.0.0.2", forwardedFor: client, password)
        }
        #expect(try login(from: "2001:db8:0:1::5", password).status == 200)
        var statuses: [Int] = []
        for subnet in 2..<8 {
            for _ in 0..<2 { statuses.append(try login(from: "2001:db8:0:\(subnet)::1", "not the password").status) }
        }
        // Five /64s of the site, two wrong passwords each, use up its ten; the sixth is refused.
        #expect(statuses == Array(repeating: 401, count: 10) + [429, 429], "\(statuses)")
        let owner = try login(from: "2001:db8:0:1::5", password)
        #expect(owner.status == 200 && owner.json["access_token"] is String)
        // A /64 of the site the owner never signed in from waits for the site's bucket.
        expectRefusal(try login(from: "2001:db8:0:99::1", password), status: 429, code: "rate_limited")
    }

    /// Many addresses guessing together use up the account's limit of wrong passwords: the
    /// owner, where they signed in before, still signs in; a client never seen waits.
    @Test func guessersFromManyAddressesCannotSlowTheOwnerWhereTheyHaveSignedInBefore() async throws {
        let server = try RunningServer(arguments: [
            "--login-failures-per-address", "2", "--login-failures-per-account", "4",
        ])
        try await register(server, "owner@example.com")
        func login(from source: String, _ password: String) throws -> RunningServer.Reply {
            try self.login(server, from: source, password)
        }
        #expect(try login(from: "127.0.0.3", password).status == 200)
        var statuses: [Int] = []
        for guesser in 4..<10 {
            statuses.append(try login(from: "127.0.0.\(guesser)", "not the password at all").status)
        }
        #expect(statuses == [401, 401, 401, 401, 429, 429], "\(statuses)")
        // The owner's own wrong password still counts against their client, not against the
        // account's empty bucket; their right one signs in.
        #expect(try login(from: "127.0.0.3", "a typo in the password").status == 401)
        let owner = try login(from: "127.0.0.3", password)
        #expect(owner.status == 200 && owner.json["access_token"] is String)
        // Somewhere the owner never signed in from, the account's limit holds.
        expectRefusal(try login(from: "127.0.0.10", password), status: 429, code: "rate_limited")
    }

    @Test func aForgedForwardedForFromAnUntrustedPeerChangesNothing() async throws {
        let server = try RunningServer(arguments: ["--rate-limit", "2", "--trusted-proxy", "127.0.0.2/32"])
        func login(from source: String, forwardedFor: String) throws -> Int {
            try exchange(
                port: server.port, from: source, "POST", "/v1/sessions",
                json: ["email": "nobody@example.com", "password": "not the password at all"],
                headers: ["X-Forwarded-For": forwardedFor]
            ).status
        }
        // Not a proxy: the header is ignored, however it changes; the peer is the client.
        #expect(try login(from: "127.0.0.3", forwardedFor: "198.51.100.1") == 401)
        #expect(try login(from: "127.0.0.3", forwardedFor: "198.51.100.2") == 401)
        #expect(try login(from: "127.0.0.3", forwardedFor: "198.51.100.3") == 429)
        // Through the trusted proxy: the right-most untrusted entry is the client. What the
        // client wrote to its left does not change who it is.
        #expect(try login(from: "127.0.0.2", forwardedFor: "198.51.100.7") == 401)
        #expect(try login(from: "127.0.0.2", forwardedFor: "203.0.113.9, 198.51.100.7") == 401)
        #expect(try login(from: "127.0.0.2", forwardedFor: "203.0.113.10, 198.51.100.7, 127.0.0.2") == 429)
        // Another client behind the same proxy has its own limit.
        #expect(try login(from: "127.0.0.2", forwardedFor: "198.51.100.8") == 401)
    }

    @Test(arguments: [
        ["--trusted-proxy", "10.0.0.1/8"], ["--trusted-proxy", "proxy.example.com"], ["--header-timeout", "0"],
        ["--max-connections-per-address", "0"], ["--resets-per-account", "0"], ["--console-session-minutes", "0"],
        ["--write-timeout", "0"],
    ])
    func aLimitThatMakesNoSenseIsABadUsage(arguments: [String]) throws {
        let process = Process()
        process.executableURL = products().appendingPathComponent("authd")
        process.arguments = ["--data", NSTemporaryDirectory() + "authd-unused-" + UUID().uuidString] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitForExit()
        #expect(process.terminationStatus == 64)
    }

    @Test func registrationsAndResetRequestsAreLimitedPerAddress() async throws {
        let server = try RunningServer(arguments: ["--registration-rate-limit", "3"])
        func register(_ index: Int, from source: String) throws -> RunningServer.Reply {
            try exchange(
                port: server.port, from: source, "POST", "/v1/users",
                json: ["email": "flood\(index)@example.com", "password": password, "first_name": "F", "last_name": "L"])
        }
        for index in 0..<3 { #expect(try register(index, from: "127.0.0.2").status == 201) }
        expectRefusal(try register(3, from: "127.0.0.2"), status: 429, code: "rate_limited")
        #expect(try register(4, from: "127.0.0.3").status == 201)
        func reset(from source: String) throws -> RunningServer.Reply {
            try exchange(
                port: server.port, from: source, "POST", "/v1/password-resets", json: ["email": "flood0@example.com"])
        }
        for _ in 0..<3 { #expect(try reset(from: "127.0.0.2").status == 202) }
        expectRefusal(try reset(from: "127.0.0.2"), status: 429, code: "rate_limited")
        #expect(try reset(from: "127.0.0.3").status == 202)
    }

    /// Reset requests for one address from many client addresses: each would mail a token and
    /// replace the live one. Past the address's hourly allowance they are refused, alike for an
    /// address with an account and one without; the owner's last mailed link still works.
    @Test func resetRequestsForOneAddressAreLimitedFromEveryClient() async throws {
        let server = try RunningServer(arguments: ["--resets-per-account", "3"])
        try await register(server, "owner@example.com")
        for email in ["owner@example.com", "nobody@example.com"] {
            for source in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
                let reply = try exchange(
                    port: server.port, from: source, "POST", "/v1/password-resets", json: ["email": email])
                #expect(reply.status == 202, "\(email) from \(source)")
            }
            let refused = try exchange(
                port: server.port, from: "127.0.0.5", "POST", "/v1/password-resets", json: ["email": email])
            expectRefusal(refused, status: 429, code: "rate_limited")
            #expect(refused.headers["retry-after"] != nil)
        }
        let resets = try resetMails(in: server.data, to: "owner@example.com")
        #expect(resets.count == 3)
        // Each request replaced the live token: of the three links mailed, the newest works.
        #expect(try await workingLinks(resets, on: server) == 1)
    }

    /// The reset messages to `email` in the outbox of the data directory `data`.
    func resetMails(in data: String, to email: String) throws -> [String] {
        let folder = data + "/maildir/new"
        return try FileManager.default.contentsOfDirectory(atPath: folder).map {
            try String(contentsOfFile: folder + "/" + $0, encoding: .utf8)
        }.filter { $0.contains("\r\nTo: \(email)\r\n") && $0.contains("Subject: Reset") }
    }

    /// How many of the reset links in `mails` set a new password on `server`.
    func workingLinks(_ mails: [String], on server: RunningServer) async throws -> Int {
        var working = 0
        for token in mails.compactMap({ tokens(in: $0).first }) {
            let confirmed = try await server.call(
                "POST", "/v1/password-resets/confirm", json: ["token": token, "new_password": "the owner's own"])
            if confirmed.status == 204 { working += 1 }
        }
        return working
    }

    /// Reset mails for one account are counted from its own events, so a restart (as another
    /// node of a cluster) does not start the count again: with `--resets-per-account 3`, two
    /// requests, a restart, two more, each answered 202: three mails in all, the last
    /// request (and one more) answered as any other, as for an unknown address, but mailing
    /// nothing. Before, each process counted in
    /// its own memory alone, and the restart allowed three more.
    @Test func resetMailsForOneAccountAreCountedAcrossARestart() async throws {
        let arguments = ["--resets-per-account", "3"]
        let first = try RunningServer(arguments: arguments)
        let data = first.data
        defer { try? FileManager.default.removeItem(atPath: data) }
        try await register(first, "owner@example.com")
        func request(_ server: RunningServer, from source: String) throws {
            let reply = try exchange(
                port: server.port, from: source, "POST", "/v1/password-resets", json: ["email": "owner@example.com"])
            #expect(reply.status == 202, "from \(source)")
        }
        for source in ["127.0.0.2", "127.0.0.3"] { try request(first, from: source) }
        first.kill()
        let second = try RunningServer(arguments: arguments, data: data)
        for source in ["127.0.0.4", "127.0.0.5"] { try request(second, from: source) }
        // A request past the account's limit is answered as one for an address with no account.
        func visible(_ email: String, from source: String) throws -> String {
            let reply = try exchange(
                port: second.port, from: source, "POST", "/v1/password-resets", json: ["email": email])
            let names = reply.headers.keys.filter { !["date", "x-request-id"].contains($0) }.sorted()
            return "\(reply.status) \(names) \(reply.body.base64EncodedString())"
        }
        #expect(try visible("owner@example.com", from: "127.0.0.6") == visible("nobody@example.com", from: "127.0.0.7"))
        let resets = try resetMails(in: data, to: "owner@example.com")
        #expect(resets.count == 3)
        // Of the links mailed, the newest works: the request that mailed nothing issued none.
        #expect(try await workingLinks(resets, on: second) == 1)
    }

    @Test func aFloodOfRegistrationsLeavesALoginAnAnswerWithinAboutASecond() async throws {
        let server = try RunningServer(arguments: [
            "--registration-rate-limit", "100000", "--max-connections-per-address", "1000", "--hashing-wait", "1",
        ])
        try await register(server, "steady@example.com")
        // 300 registrations, all sent before any is answered: each needs a password hash.
        var flood: [LoopbackConnection] = []
        for index in 0..<300 {
            let connection = try LoopbackConnection(port: server.port, from: "127.0.0.2")
            let body = #"{"email":"f\#(index)@example.com","password":"\#(password)","first_name":"F","last_name":"L"}"#
            try connection.send(
                "POST /v1/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
            flood.append(connection)
        }
        let start = Date()
        let login = try exchange(
            port: server.port, from: "127.0.0.3", "POST", "/v1/sessions",
            json: ["email": "steady@example.com", "password": password])
        let waited = Date().timeIntervalSince(start)
        #expect(login.status == 200 || login.status == 503)
        if login.status == 503 { expectRefusal(login, status: 503, code: "busy") }
        // About a second of queue, one hash, and room for a loaded test machine.
        #expect(waited < 3, "the login waited \(waited) s")
        let replies = try flood.map { try parseResponse($0.readUntilClosed(timeout: 60) ?? Data()) }
        let busy = replies.filter { $0.status == 503 }
        #expect(!busy.isEmpty)
        #expect(replies.allSatisfy { $0.status == 201 || $0.status == 503 })
        for reply in busy.prefix(3) { expectRefusal(reply, status: 503, code: "busy") }
    }

    @Test func halfSentRequestsFromOneClientDoNotStarveTheServer() async throws {
        let server = try RunningServer()
        // A server whose file limit is 256, as on many hosts.
        try setFileLimit(of: server.process.processIdentifier, to: 256)
        var attackers: [LoopbackConnection] = []
        for _ in 0..<300 {
            let connection = try LoopbackConnection(port: server.port, from: "127.0.0.2")
            try connection.send("POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
            attackers.append(connection)
        }
        let reply = try exchange(port: server.port, from: "127.0.0.3", "GET", "/healthz", timeout: 5)
        #expect(reply.status == 200)
        // Beyond its cap, the client's connections were closed at once.
        #expect(attackers.filter { $0.readUntilClosed(timeout: 0.01) != nil }.count >= 300 - 64)
    }

    @Test func aHalfSentRequestIsClosedAfterItsTimeout() async throws {
        let server = try RunningServer(arguments: [
            "--header-timeout", "1", "--body-timeout", "1", "--idle-timeout", "1",
        ])
        let start = Date()
        let header = try LoopbackConnection(port: server.port, from: "127.0.0.2")
        try header.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
        let silent = try LoopbackConnection(port: server.port, from: "127.0.0.2")
        let body = try LoopbackConnection(port: server.port, from: "127.0.0.2")
        try body.send(
            "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"em"
        )
        let idle = try LoopbackConnection(port: server.port, from: "127.0.0.2")
        try idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for connection in [header, silent, body] {
            #expect(connection.readUntilClosed(timeout: 10) != nil)
        }
        // The kept-alive connection got its answer, then was closed when it idled.
        let answered = try #require(idle.readUntilClosed(timeout: 10))
        #expect(String(decoding: answered, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        #expect(Date().timeIntervalSince(start) >= 0.9)
        // A body that stopped coming is the client's fault: counted as 400, never as 500. The
        // route learns of the closed connection after the close, on a task of its own, so the
        // count is awaited (up to 30 s on a loaded machine), not read once.
        var metrics = ""
        let deadline = Date().addingTimeInterval(30)
        repeat {
            metrics = String(decoding: try await server.call("GET", "/metrics").body, as: UTF8.self)
            if metrics.contains(#"route="/v1/sessions",status="400""#) { break }
            try await Task.sleep(for: .milliseconds(50))
        } while Date() < deadline
        #expect(metrics.contains(#"route="/v1/sessions",status="400""#))
        #expect(!metrics.contains(#"status="500""#))
    }

    /// A route may answer before the request's body is in (here /healthz ignores it, and an
    /// unauthenticated write is refused at once). Its body then keeps the body deadline, and
    /// once the body is in, the idle one runs: a client that sends the rest and goes silent
    /// does not hold the connection for ever.
    @Test func aRequestAnsweredBeforeItsBodyEndsStillHasDeadlines() async throws {
        let server = try RunningServer(arguments: [
            "--header-timeout", "1", "--body-timeout", "5", "--idle-timeout", "1",
        ])
        let requests = [
            "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n",
            "POST /v1/users/me/password HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: 1\r\n\r\n",
        ]
        for request in requests {
            let connection = try LoopbackConnection(port: server.port, from: "127.0.0.3")
            try connection.send(request)
            let answer = try #require(connection.readResponse(timeout: 10), "answered before the body: \(request)")
            #expect(String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 "))
            try connection.send("x")
            #expect(connection.readUntilClosed(timeout: 20) != nil, "held open: \(request)")
        }
        // Answered early, a body that never comes is closed by its own deadline.
        let stalled = try LoopbackConnection(port: server.port, from: "127.0.0.3")
        try stalled.send(requests[0])
        #expect(stalled.readResponse(timeout: 10) != nil)
        #expect(stalled.readUntilClosed(timeout: 20) != nil)
    }

    /// After an answer the connection's deadline is the idle one (long here); the first byte of
    /// the next request must bring the header's (short) deadline forward, not leave the idle one.
    @Test func aSecondRequestHalfSentOnAKeptConnectionGetsTheHeaderTimeoutNotTheIdleOne() async throws {
        let server = try RunningServer(arguments: ["--header-timeout", "1", "--idle-timeout", "60"])
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.2")
        try connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(connection.readResponse(timeout: 10) != nil)
        let start = Date()
        try connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
        #expect(connection.readUntilClosed(timeout: 20) != nil)
        let waited = Date().timeIntervalSince(start)
        #expect(waited >= 0.9 && waited < 20, "closed after \(waited) s")
    }

    /// A client that sends requests and never reads the answers: once the connection can take
    /// no more of them, it is closed after the write timeout, and gives its place under the
    /// per-address cap back. Before, it was held for as long as the client liked (no deadline
    /// while answering), and a few such connections kept their address, or with enough
    /// addresses everyone, out.
    @Test func aClientThatStopsReadingItsAnswersIsClosedAfterTheWriteTimeout() async throws {
        // 300 users, so that each answer (an ADMIN's page of 1,000 users) is some 150 KiB and
        // a few dozen fill the kernel's buffers (which grow to megabytes) and NIO's 64 KiB,
        // however slow a loaded machine makes the server.
        let server = try RunningServer(arguments: [
            "--max-connections-per-address", "1", "--write-timeout", "2", "--idle-timeout", "3600",
            "--rate-limit", "100000000",
        ]) { data throws in
            #expect(try runAuthctl(["--data", data, "seed", "--users", "300", "--events", "900"]).status == 0)
            let made = try runAuthctl(
                ["--data", data, "create-admin", "--email", AccountServer.adminEmail],
                input: AccountServer.adminPassword + "\n")
            #expect(made.status == 0, "\(made.stderr)")
        }
        // Each from an address of its own: with one connection an address, a second call from
        // the first's address can come before the server has seen the first one close.
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": AccountServer.adminEmail, "password": AccountServer.adminPassword],
            from: "127.0.0.7")
        let token = try #require(login.json["access_token"] as? String)
        let page = try await server.call(
            "GET", "/v1/users?role=TARGET&limit=1000", token: token, from: "127.0.0.8")
        #expect(page.status == 200 && page.body.count > 50_000, "\(page.status), \(page.body.count) bytes")
        // Kept open to the end: a client that closes its side gives its place back itself.
        let reader = try LoopbackConnection(port: server.port, from: "127.0.0.6", bufferSize: 65_536)
        defer { withExtendedLifetime(reader) {} }
        // Until the server stops reading (its answers back up) or closes the connection.
        let (_, sent) = reader.flood(
            "GET /v1/users?role=TARGET&limit=1000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\r\n")
        #expect(sent > 0)
        // Then the address is served again.
        let served = await servedAgain(port: server.port, from: "127.0.0.6", within: 90)
        #expect(served, "the address is still held by a connection that reads nothing")
    }

    @Test func beyondTheConnectionCapNewConnectionsWaitForAFreeOne() async throws {
        let server = try RunningServer(arguments: ["--max-connections", "2", "--idle-timeout", "1"])
        // Two connections, each answered once and kept alive: both are accepted and held.
        var held: [LoopbackConnection] = []
        for source in ["127.0.0.2", "127.0.0.4"] {
            let connection = try LoopbackConnection(port: server.port, from: source)
            try connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(connection.readResponse(timeout: 10) != nil)
            held.append(connection)
        }
        let start = Date()
        // A third is not accepted while both are open: it is served once the idle timeout
        // has closed them.
        let reply = try exchange(port: server.port, from: "127.0.0.3", "GET", "/healthz", timeout: 10)
        #expect(reply.status == 200)
        #expect(Date().timeIntervalSince(start) >= 0.5)
        #expect(held.allSatisfy { $0.readUntilClosed(timeout: 0.1) != nil })
    }

    @Test func aGuessedRefreshTokenDoesNotRevokeTheSession() async throws {
        let server = try RunningServer(arguments: ["--refresh-grace", "0"])
        try await register(server, "kept@example.com")
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "kept@example.com", "password": password])
        let token = try #require(login.json["refresh_token"] as? String)
        // The session's reference is in every access token; the secret is a guess.
        let reference = try #require(token.split(separator: ".").first)
        let guess = String(reference) + "." + String(repeating: "A", count: 43)
        let guessed = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": guess])
        #expect(guessed.status == 401 && guessed.code == "invalid_token")
        // The session lives on: its real token rotates.
        let rotated = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": token])
        #expect(rotated.status == 200)
        // A token the session really issued, replayed, is still reuse: the session ends.
        let replay = try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": token])
        #expect(replay.status == 401 && replay.code == "invalid_token")
        let newest = try #require(rotated.json["refresh_token"] as? String)
        #expect(try await server.call("POST", "/v1/sessions/refresh", json: ["refresh_token": newest]).status == 401)
    }
}

/// Sets another process's open-file limit (Linux's prlimit(2), which Glibc's module map leaves out).
func setFileLimit(of pid: Int32, to value: UInt) throws {
    typealias PrLimit = @convention(c) (Int32, Int32, UnsafePointer<rlimit>?, UnsafeMutablePointer<rlimit>?) -> Int32
    guard let symbol = dlsym(nil, "prlimit") else { throw LoopbackConnection.Failure.socket("no prlimit") }
    var limit = rlimit(rlim_cur: rlim_t(value), rlim_max: rlim_t(value))
    let result = unsafeBitCast(symbol, to: PrLimit.self)(pid, Int32(RLIMIT_NOFILE.rawValue), &limit, nil)
    guard result == 0 else { throw LoopbackConnection.Failure.socket("prlimit: \(errno)") }
}
