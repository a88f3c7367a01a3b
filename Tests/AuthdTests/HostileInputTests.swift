import AuthDomain
import DataProtection
import EventLog
import EventLogLMDB
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Input an attacker chooses, sent to a real authd (or given to authctl): it is refused with
/// a 4xx problem or read as it should be; it never crashes a process or gets a 500.
@Suite(.ownThreads) struct HostileInputTests {
    let password = "correct horse battery"

    /// A backup whose first event was recorded at −2^63 µs (hashes recomputed, so the chain
    /// verifies), given as an export from before signed checkpoints, which an operator may
    /// import with --allow-unsigned: import, `authctl users get`, `authctl history` and
    /// authd's reads of that user all work, where Timestamp's arithmetic used to trap.
    @Test func aRecordedAtOfMinus2To63IsReadWithoutACrash() async throws {
        let source = NSTemporaryDirectory() + "authd-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: source) }
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let created = try runAuthctl(
            ["--data", source, "create-admin", "--email", "root@example.com"], input: "an admin passphrase\n")
        #expect(created.status == 0, "\(created.stderr)")
        let export = try runAuthctl(["--data", source, "export"])
        #expect(export.status == 0, "\(export.stderr)")
        let backup = source + "/crafted.jsonl"
        try Data(try Self.rewritingFirstEventTime(export.stdout, to: .min).utf8).write(to: URL(fileURLWithPath: backup))

        // Import checks every field and refuses it, with the line.
        let refused = try runAuthctl(
            ["--data", source + "/refused", "import", "--allow-unsigned", backup], ["AUTHLOG_KEK_FILE": source + "/kek"]
        )
        #expect(refused.status == 2 && refused.stderr.contains("line "), "\(refused.stderr)")

        // Someone who can write the directory (and holds the key) stores it there anyway: reads
        // must not crash on it.
        let envelopes = try String(contentsOfFile: backup, encoding: .utf8).split(separator: "\n").compactMap {
            try Self.storedEnvelope(String($0))
        }
        var users: ProcessOutput?
        var history: ProcessOutput?
        let server = try RunningServer { data in
            for file in ["kek", "keys"] {
                try FileManager.default.copyItem(atPath: source + "/" + file, toPath: data + "/" + file)
            }
            let keys = try KeyStore(dataDirectory: data, environment: [:])
            let log = try LMDBEventLog(directory: data)
            try log.importStored(envelopes)
            try log.startSigning(with: try #require(keys.logSigningKey), adoptUnsigned: true)
            // The uniqueness index, as import would restore it, for the login by email.
            let admin = try #require(try log.read(from: 1, limit: 1).first?.streamID)
            try log.withWriteTransaction { txn in
                try log.claim(
                    try EmailAddress("root@example.com").claimKey, in: EmailAddress.claimScope, for: admin, txn: txn)
            }
            log.close()
            #expect(try runAuthctl(["--data", data, "rebuild"]).status == 0)
            users = try runAuthctl(["--data", data, "users", "get", "root@example.com", "--json"])
            history = try runAuthctl(["--data", data, "history", "root@example.com"])
        }
        #expect(users?.status == 0, "users get: \(users?.stderr ?? "")")
        #expect(users?.stdout.contains("\"created_at\":\"-") == true, "\(users?.stdout ?? "")")
        #expect(history?.status == 0, "history: \(history?.stderr ?? "")")
        #expect(history?.stdout.contains("UserRegistered") == true, "\(history?.stdout ?? "")")

        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "root@example.com", "password": "an admin passphrase"])
        #expect(login.status == 200, "\(String(decoding: login.body, as: UTF8.self))")
        let token = login.json["access_token"] as? String
        let me = try await server.call("GET", "/v1/users/me", token: token)
        #expect(me.status == 200 && (me.json["created_at"] as? String)?.hasPrefix("-") == true, "\(me.json)")
        let id = try #require(me.json["id"] as? String)
        let trail = try await server.call("GET", "/v1/users/\(id)/events", token: token)
        #expect(trail.status == 200)
        #expect(try await server.call("GET", "/healthz").status == 200)
    }

    /// A body sent in chunks, with no Content-Length, over the 64 KiB limit.
    @Test func aChunkedBodyOverTheLimitGets413() async throws {
        let server = try RunningServer()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 8_192)
        var request = Array(
            "POST /v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                .utf8)
        for _ in 0..<9 { request += Array("2000\r\n".utf8) + chunk + Array("\r\n".utf8) }
        request += Array("0\r\n\r\n".utf8)
        let reply = try rawHTTPExchange(port: server.port, request)
        #expect(reply.status == 413, "\(reply.head)")
        #expect(reply.head.lowercased().contains("content-type: application/problem+json"), "\(reply.head)")
        #expect(reply.body.contains("\"code\":\"payload_too_large\""), "\(reply.body)")
        // The server is still there, and a small chunked body is read as usual.
        let small = Array(
            "POST /v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1]\r\n0\r\n\r\n"
                .utf8)
        let answer = try rawHTTPExchange(port: server.port, small)
        #expect(answer.status == 400 && answer.body.contains("JSON object"), "\(answer.head) \(answer.body)")
    }

    /// RFC 9112 §3.2: an HTTP/1.1 request without a Host line, one with two (how a request is
    /// made to mean one thing to a proxy and another behind it) and one whose Host holds what no
    /// authority can are answered 400 and their connection closed, on the fast paths (a read
    /// by id, a rotation) and the slow one alike, after the answers to the requests before
    /// them; HTTP/1.0 needs no Host. Before, every one of them was answered as if it were fine.
    @Test func requestsBreakingTheHostRuleAre400AndClose() async throws {
        let authd = try AccountServer()
        let server = authd.server
        _ = try await authd.register("host@example.com")
        let token = try await authd.login("host@example.com")
        let refused: [String] = [
            "GET /v1/users/me HTTP/1.1\r\nAuthorization: Bearer \(token)\r\n\r\n",
            "GET /v1/users/me HTTP/1.1\r\nHost: 127.0.0.1\r\nhost: elsewhere.example\r\nAuthorization: Bearer \(token)\r\n\r\n",
            "GET /v1/users/me HTTP/1.1\r\nHost: 127.0.0.1 elsewhere.example\r\nAuthorization: Bearer \(token)\r\n\r\n",
            "POST /v1/sessions/refresh HTTP/1.1\r\nHost: a\r\nHOST: b\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"refresh_token\":\"\"}",
            "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        ]
        for request in refused {
            let connection = try LoopbackConnection(port: server.port, from: "127.0.0.1")
            try connection.send(request)
            let answer = try #require(connection.readUntilClosed(timeout: 30), "no answer to \(request)")
            let text = String(decoding: answer, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 400 "), "\(request): \(text)")
            #expect(!text.contains("host@example.com"), "\(request): \(text)")
        }

        // The requests before such a head are answered; nothing after it is.
        let connection = try LoopbackConnection(port: server.port, from: "127.0.0.1")
        try connection.send(
            "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        let pipelined = String(decoding: try #require(connection.readUntilClosed(timeout: 30)), as: UTF8.self)
        // Each answer's status line follows the body before it.
        let statuses = pipelined.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
        #expect(statuses == ["200", "400"], "\(pipelined)")

        // HTTP/1.0 needs no Host; a Host in any case, with a port, is one.
        let old = try rawHTTPExchange(
            port: server.port, Array("GET /healthz HTTP/1.0\r\nConnection: close\r\n\r\n".utf8))
        #expect(old.status == 200, "\(old.head)")
        let read = try rawHTTPExchange(
            port: server.port,
            Array(
                "GET /v1/users/me HTTP/1.1\r\nHOST: 127.0.0.1:\(server.port)\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
                    .utf8))
        #expect(read.status == 200 && read.body.contains("host@example.com"), "\(read.head)")
    }

    /// A connection whose head broke the Host rule is closed once its 400 is out, whatever the
    /// client sends after it or keeps open: heads sent behind the refused one are dropped, not
    /// left waiting for answers, so they cannot hold the address's place under the connection
    /// cap. A Host with blanks around it is a Host.
    @Test func aRefusedHostDoesNotHoldItsConnection() async throws {
        let server = try RunningServer(arguments: ["--max-connections-per-address", "1", "--idle-timeout", "3600"])
        let blanks = try LoopbackConnection(port: server.port, from: "127.0.0.10")
        try blanks.send("GET /healthz HTTP/1.1\r\nHost: \t127.0.0.1 \r\nConnection: close\r\n\r\n")
        let answer = String(decoding: try #require(blanks.readUntilClosed(timeout: 30)), as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 200 "), "\(answer)")
        let held = try LoopbackConnection(port: server.port, from: "127.0.0.9")
        defer { withExtendedLifetime(held) {} }
        try held.send("GET /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n")
        let refused = String(decoding: try #require(held.readUntilClosed(timeout: 30)), as: UTF8.self)
        #expect(refused.hasPrefix("HTTP/1.1 400 ") && refused.components(separatedBy: "HTTP/1.1 ").count == 2)
        // The held connection is not closed on the client's side; the address is served again.
        let served = await servedAgain(port: server.port, from: "127.0.0.9", within: 30)
        #expect(served, "the address is still held by the refused connection")
    }

    /// `Connection` holds tokens: `noclose` asks for no close, so NIO's decoder and Hummingbird
    /// read on after it, and the fast paths' handler must too; `Keep-Alive, Close` is a close.
    /// Before, a field that merely contained "close" made its request the last in that handler
    /// while the decoder read on: every head after it was dropped there and counted by the
    /// deadlines' handler as owed an answer, so a client that did not read its answers held the
    /// connection with no deadline, and one that went on sending grew the server's memory
    /// without end (about 26 MB a second from one connection, seen in a review).
    @Test func aConnectionFieldIsReadAsTokens() async throws {
        let server = try RunningServer(arguments: ["--max-connections-per-address", "1", "--idle-timeout", "3600"])
        let cases = [
            ("noclose", 3),  // two answers, then the close asked for by the second request
            ("Keep-Alive, Close", 2),  // one answer, then the close
        ]
        for (index, (value, parts)) in cases.enumerated() {
            let connection = try LoopbackConnection(port: server.port, from: "127.0.0.\(41 + index)")
            defer { withExtendedLifetime(connection) {} }
            try connection.send(
                "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: \(value)\r\n\r\n"
                    + "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            let answer = String(decoding: try #require(connection.readUntilClosed(timeout: 30)), as: UTF8.self)
            #expect(answer.components(separatedBy: "HTTP/1.1 200 ").count == parts, "Connection: \(value): \(answer)")
        }
    }

    /// A request that asks to close its connection, or an HTTP/1.0 one without keep-alive, is
    /// the connection's last: it is answered and the connection closed, whatever the client
    /// sends after it or keeps open. Before, the server closed only its own side, and a request
    /// sent behind it left the connection waiting for an answer that never came, with no
    /// deadline: each such client held a place under the connection caps for as long as it
    /// liked.
    @Test func aLastRequestEndsItsConnectionWhateverFollowsIt() async throws {
        let authd = try AccountServer(arguments: [
            "--registration-rate-limit", "1000", "--rate-limit", "1000", "--max-connections-per-address", "1",
            "--idle-timeout", "3600",
        ])
        let server = authd.server
        // Each from an address of its own: with one connection an address, a second call from
        // the first's address can come before the server has seen the first one close.
        let registered = try await server.call(
            "POST", "/v1/users",
            json: [
                "email": "last@example.com", "password": AccountServer.password, "first_name": "A", "last_name": "B",
            ],
            from: "127.0.0.31")
        #expect(registered.status == 201)
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "last@example.com", "password": AccountServer.password],
            from: "127.0.0.32")
        let token = try #require(login.json["access_token"] as? String)
        let lasts = [
            // A read the fast path would take in HTTP/1.1.
            "GET /v1/users/me HTTP/1.0\r\nAuthorization: Bearer \(token)\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            "POST /v1/users HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
            "GET /healthz HTTP/1.0\r\n\r\n",
        ]
        for (index, last) in lasts.enumerated() {
            let source = "127.0.0.\(21 + index)"
            let held = try LoopbackConnection(port: server.port, from: source)
            defer { withExtendedLifetime(held) {} }
            try held.send(last + "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            let answer = String(decoding: try #require(held.readUntilClosed(timeout: 30)), as: UTF8.self)
            #expect(answer.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer to \(last): \(answer)")
            // The held connection is not closed on the client's side; the address is served again.
            let served = await servedAgain(port: server.port, from: source, within: 30)
            #expect(served, "the address is still held by the connection of \(last)")
        }
    }

    /// A request that may change protocols (an Upgrade field, or a CONNECT) is the connection's
    /// last: it is answered, saying `Connection: close`, the socket is read no more, and the
    /// connection is closed. NIO's decoder parses nothing after such a request and keeps what
    /// follows for an upgrader authd does not have. Before, the server read on into that
    /// decoder: one client sent 200 MiB after `Connection: Upgrade` and authd's memory grew by
    /// 209 MB. The decoder reads `Proxy-Connection` as it reads `Connection`, so a read or a
    /// rotation the fast paths would take is such a request too.
    @Test func aRequestToChangeProtocolsIsTheConnectionsLast() async throws {
        let server = try RunningServer(arguments: ["--max-connections-per-address", "1", "--idle-timeout", "3600"])
        let upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\n"
        let proxyUpgrade = "Proxy-Connection: upgrade\r\nUpgrade: x\r\n"
        let cases: [(head: String, closeSaid: Bool)] = [
            ("GET /healthz HTTP/1.1\r\nHost: a\r\n\(upgrade)\r\n", true),
            ("CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n", true),
            // What the fast paths would take but for the Upgrade field.
            ("GET /v1/users/me HTTP/1.1\r\nHost: a\r\n\(proxyUpgrade)\r\n", true),
            (
                "POST /v1/sessions/refresh HTTP/1.1\r\nHost: a\r\n\(proxyUpgrade)Content-Type: application/json\r\n"
                    + "Content-Length: 21\r\n\r\n{\"refresh_token\":\"x\"}", true
            ),
            // Refused for its Host (400): the connection lingers, and must not read meanwhile.
            ("GET /healthz HTTP/1.1\r\n\(upgrade)\r\n", false),
            // Dropped behind a head refused for its Host: the decoder stops after it all the same.
            ("GET /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\(upgrade)\r\n", false),
        ]
        for (index, (head, closeSaid)) in cases.enumerated() {
            let source = "127.0.0.\(51 + index)"
            let connection = try LoopbackConnection(port: server.port, from: source, bufferSize: 65_536)
            defer { withExtendedLifetime(connection) {} }
            try connection.send(head)
            let (answer, _) = try connection.readAnswer(timeout: 30)
            #expect((200..<500).contains(answer.status), "\(head): \(answer.status)")
            if closeSaid {
                #expect(answer.headers["connection"]?.lowercased() == "close", "\(head): \(answer.headers)")
            }
            // What a server that reads on takes whole (`flood` stops at 40 MB); one that reads no
            // more takes what the two sockets' buffers hold.
            let (_, sent) = connection.flood("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(sent < 4_000_000, "authd took \(sent) bytes after \(head)")
            #expect(connection.readUntilClosed(timeout: 30) != nil, "the connection of \(head) stays open")
            let served = await servedAgain(port: server.port, from: source, within: 30)
            #expect(served, "the address is still held by the connection of \(head)")
        }
    }

    /// One letter with 16,000 combining marks is one character; names are limited in bytes
    /// too, and a body just under 64 KiB of names is a 422, never the 500 of an event over
    /// the payload limit. Bidi overrides and zero-width characters are refused.
    @Test func namesAreLimitedInBytesAndRefuseInvisibleCharacters() async throws {
        let server = try RunningServer()
        func register(_ first: String, _ last: String = "Doe", email: String) async throws -> RunningServer.Reply {
            try await server.call(
                "POST", "/v1/users",
                json: ["email": email, "password": password, "first_name": first, "last_name": last])
        }
        let zalgo = "a" + String(repeating: "\u{0301}", count: 16_000)
        let refused = try await register(zalgo, email: "zalgo@example.com")
        #expect(refused.status == 422 && refused.code == "invalid_field", "\(refused.status) \(refused.json)")
        #expect((refused.json["detail"] as? String)?.contains("bytes") == true)

        // Both names as long as the body limit allows.
        func body(_ marks: Int) throws -> Data {
            let name = "a" + String(repeating: "\u{0301}", count: marks)
            return try JSONSerialization.data(withJSONObject: [
                "email": "big@example.com", "password": password, "first_name": name, "last_name": name,
            ])
        }
        let marks = (65_536 - (try body(0)).count) / 4
        let biggest = try body(marks)
        #expect(biggest.count <= 65_536 && biggest.count > 65_500)
        let big = try await server.call("POST", "/v1/users", raw: biggest)
        #expect(big.status == 422 && big.code == "invalid_field", "\(big.status) \(big.json)")

        for (name, text) in [
            ("right-to-left override", "Eve\u{202E}lirpA"), ("zero-width space", "Ev\u{200B}e"),
            ("zero-width joiner", "Ev\u{200D}e"), ("byte order mark", "\u{FEFF}Eve"),
            ("isolate", "\u{2066}Eve\u{2069}"),
            ("line separator", "Eve\u{2028}Adams"), ("control", "Eve\u{7}"),
        ] {
            let reply = try await register(text, email: "eve@example.com")
            #expect(reply.status == 422 && reply.code == "invalid_field", "\(name): \(reply.status)")
        }
        let fine = try await register("Zoë", "Ngũgĩ wa Thiong'o", email: "ok@example.com")
        #expect(fine.status == 201, "\(fine.json)")
        let token =
            try await server.call(
                "POST", "/v1/sessions", json: ["email": "ok@example.com", "password": password]
            ).json["access_token"] as? String
        let id = try #require(fine.json["id"] as? String)
        let patched = try await server.call("PATCH", "/v1/users/\(id)", json: ["last_name": zalgo], token: token)
        #expect(patched.status == 422 && patched.code == "invalid_field", "\(patched.status)")
        let renamed = try await server.call("PATCH", "/v1/users/\(id)", json: ["last_name": "Dóe"], token: token)
        #expect(renamed.status == 200 && renamed.json["last_name"] as? String == "Dóe")
    }

    /// A password with "é" typed as "e" and a combining acute accent: registration stored its
    /// NFC form; login and reset take either form (password change, `POST /v1/users/me/password`,
    /// is checked in AuthServiceTests' `changingAPasswordTakesTheCurrentOneInEitherForm`).
    @Test func aPasswordWithADecomposedAccentWorksInEitherForm() async throws {
        let server = try RunningServer()
        let decomposed = "cafe\u{0301} au lait, bien chaud"
        let composed = decomposed.precomposedStringWithCanonicalMapping
        #expect(Array(decomposed.utf8) != Array(composed.utf8))
        let registered = try await server.call(
            "POST", "/v1/users",
            json: ["email": "nfc@example.com", "password": decomposed, "first_name": "N", "last_name": "F"])
        #expect(registered.status == 201)
        for (form, typed) in [("decomposed", decomposed), ("composed", composed)] {
            let login = try await server.call(
                "POST", "/v1/sessions", json: ["email": "nfc@example.com", "password": typed])
            #expect(login.status == 200, "login with the \(form) form: \(login.status)")
        }
        // Reset to a decomposed password; both forms log in.
        #expect(try await server.call("POST", "/v1/password-resets", json: ["email": "nfc@example.com"]).status == 202)
        let resetPassword = "pa\u{0303}o de queijo quente"
        let reset = try await server.call(
            "POST", "/v1/password-resets/confirm",
            json: ["token": try server.mailedToken("Reset", to: "nfc@example.com"), "new_password": resetPassword])
        #expect(reset.status == 204)
        for typed in [resetPassword, resetPassword.precomposedStringWithCanonicalMapping] {
            let login = try await server.call(
                "POST", "/v1/sessions", json: ["email": "nfc@example.com", "password": typed])
            #expect(login.status == 200)
        }
    }

    /// `\u+041` is not an escape, a surrogate pair is one scalar, and `application/jsonfoo`
    /// is not JSON.
    @Test func escapesAndTheContentTypeAreReadStrictly() async throws {
        let server = try RunningServer()
        func register(_ body: String, contentType: String = "application/json") async throws -> RunningServer.Reply {
            try await server.call("POST", "/v1/users", raw: Data(body.utf8), contentType: contentType)
        }
        let signed = try await register(
            #"{"email":"plus@example.com","password":"correct horse battery","first_name":"\u+041","last_name":"B"}"#)
        #expect(signed.status == 400 && signed.code == "bad_request", "\(signed.status) \(signed.json)")
        let pair = try await register(
            #"{"email":"pair@example.com","password":"correct horse battery","first_name":"\uD83D\uDE00","last_name":"B"}"#
        )
        #expect(pair.status == 201 && pair.json["first_name"] as? String == "😀", "\(pair.status) \(pair.json)")
        let lone = try await register(
            #"{"email":"lone@example.com","password":"correct horse battery","first_name":"\uD83D","last_name":"B"}"#)
        #expect(lone.status == 400 && (lone.json["detail"] as? String)?.contains("surrogate") == true)
        let foreign = try await register(
            #"{"email":"type@example.com","password":"correct horse battery","first_name":"A","last_name":"B"}"#,
            contentType: "application/jsonfoo")
        #expect(foreign.status == 400 && (foreign.json["detail"] as? String)?.contains("content type") == true)
        let withCharset = try await register(
            #"{"email":"type@example.com","password":"correct horse battery","first_name":"A","last_name":"B"}"#,
            contentType: "application/json; charset=utf-8")
        #expect(withCharset.status == 201)
    }

    /// The stored bytes of an export's event line (canonical bytes, then its hash); `nil` for
    /// other lines.
    static func storedEnvelope(_ line: String) throws -> [UInt8]? {
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            object["kind"] as? String == "event"
        else { return nil }
        return canonicalBytes(ofExportLine: object) + (ChainHash(hex: object["hash"] as? String ?? "")?.bytes ?? [])
    }

    /// Sets the first event's `recorded_at_us` in an export to `micros` and recomputes the
    /// hash of that event and every later one, as someone holding the backup can; the
    /// checkpoints, which would no longer verify, are left out and the header says it is an
    /// unsigned export (authlog-export/1).
    static func rewritingFirstEventTime(_ export: String, to micros: Int64) throws -> String {
        var previous = ChainHash.genesis
        var changed = false
        var lines: [String] = []
        for line in export.split(separator: "\n") {
            guard var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw HostileInputError.failed("an export line that is not a JSON object: \(line)")
            }
            switch object["kind"] as? String {
            case "header":
                object["format"] = "authlog-export/1"
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
                continue
            case "event": break
            case "checkpoint": continue
            default:
                lines.append(String(line))
                continue
            }
            if !changed {
                object["recorded_at_us"] = NSNumber(value: micros)
                changed = true
            }
            previous = hash(object, after: previous)
            object["hash"] = previous.description
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// An HTTP/1.1 exchange over a raw TCP connection, for requests `LoopbackRequest` cannot shape (a
/// chunked body, a half-sent one): the response's status line and headers, and its body.
/// A server that answers before the whole request is sent, and closes, is read all the same.
func rawHTTPExchange(port: Int, _ request: [UInt8]) throws -> (status: Int, head: String, body: String) {
    let connection = try LoopbackConnection(port: port, from: "127.0.0.1")
    try? connection.send(request)
    let answer: (reply: RunningServer.Reply, raw: Data)
    do {
        answer = try connection.readAnswer(timeout: 30)
    } catch {
        throw HostileInputError.failed("incomplete response: \(error)")
    }
    let head = answer.raw.range(of: Data("\r\n\r\n".utf8)).map { answer.raw[..<$0.lowerBound] } ?? answer.raw
    return (
        answer.reply.status, String(decoding: head, as: UTF8.self), String(decoding: answer.reply.body, as: UTF8.self)
    )
}

enum HostileInputError: Error { case failed(String) }
