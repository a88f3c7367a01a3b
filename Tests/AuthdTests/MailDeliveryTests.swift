import Foundation
import TestSupport
import Testing

/// authd's outbox delivered over SMTP to a real server on loopback (aiosmtpd).
@Suite(.ownThreads, .serialized) struct MailDeliveryTests {
    func register(_ server: RunningServer, _ email: String) async throws {
        let reply = try await server.call(
            "POST", "/v1/users",
            json: ["email": email, "password": "correct horse battery", "first_name": "A", "last_name": "B"])
        #expect(reply.status == 201, "\(String(decoding: reply.body, as: UTF8.self))")
    }

    func metrics(_ server: RunningServer) async throws -> String {
        String(decoding: try await server.call("GET", "/metrics").body, as: UTF8.self)
    }

    func waiting(_ server: RunningServer) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: server.data + "/maildir/new")) ?? []
    }

    func failed(_ data: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: data + "/maildir/failed")) ?? []
    }

    @Test func messagesArriveWithTheirTokensAndTheOutboxEmpties() async throws {
        let sink = try SMTPSink()
        let server = try RunningServer(arguments: [
            "--smtp-url", "smtp://127.0.0.1:\(sink.port)", "--mail-from", "Example <no-reply@example.com>",
        ])
        try await register(server, "alice@example.com")
        #expect(try await eventually { sink.messages().count == 1 })
        let verification = try #require(sink.messages().first)
        #expect(verification.contains("X-Sink-Mail-From: no-reply@example.com\r\n"))
        #expect(verification.contains("X-Sink-Rcpt-To: alice@example.com\r\n"))
        #expect(verification.contains("From: Example <no-reply@example.com>\r\n"))
        #expect(!verification.contains("X-Authlog-"), "internal headers stay home")
        let token = try #require(tokens(in: verification).first)
        let confirmed = try await server.call("POST", "/v1/email-verifications/confirm", json: ["token": token])
        #expect(confirmed.status == 204)

        #expect(
            try await server.call("POST", "/v1/password-resets", json: ["email": "alice@example.com"]).status == 202)
        #expect(try await eventually { sink.messages().count == 2 })
        let reset = try #require(tokens(in: sink.messages()[1]).first)
        let changed = try await server.call(
            "POST", "/v1/password-resets/confirm", json: ["token": reset, "new_password": "a brand new passphrase"])
        #expect(changed.status == 204)
        // The reset changed the password: the holder hears of it.
        #expect(try await eventually { sink.messages().count == 3 })
        let notice = sink.messages()[2]
        #expect(notice.contains("Subject: Your password was changed\r\n") && tokens(in: notice).isEmpty)
        #expect(try await eventually { waiting(server).isEmpty })
        let page = try await metrics(server)
        #expect(metric("authlog_mail_delivered_total", in: page) == 3)
        #expect(metric("authlog_mail_queued", in: page) == 0)
        #expect(metric("authlog_mail_failed", in: page) == 0)
    }

    @Test func mailWaitsWhileTheServerIsDownAndGoesOutOnceItIsUp() async throws {
        let port = try SMTPSink.freePort()
        let server = try RunningServer(arguments: ["--smtp-url", "smtp://127.0.0.1:\(port)"])
        try await register(server, "bob@example.com")
        #expect(
            try await eventually {
                let page = try await metrics(server)
                return (metric("authlog_mail_delivery_failures_total", in: page) ?? 0) >= 1
                    && metric("authlog_mail_queued", in: page) == 1
            })
        #expect(waiting(server).count == 1, "the message waits in the outbox")
        let sink = try SMTPSink(port: port)
        #expect(try await eventually { sink.messages().count == 1 })
        #expect(tokens(in: sink.messages()[0]).count >= 1)
        #expect(sink.messages()[0].contains("X-Sink-Rcpt-To: bob@example.com\r\n"))
        #expect(try await eventually { waiting(server).isEmpty })
    }

    @Test func nothingQueuedIsLostWhenAuthdIsKilledBeforeDelivery() async throws {
        let port = try SMTPSink.freePort()
        let first = try RunningServer(arguments: ["--smtp-url", "smtp://127.0.0.1:\(port)"])
        let data = first.data
        defer { try? FileManager.default.removeItem(atPath: data) }
        let people = ["carol@example.com", "dave@example.com", "erin@example.com"]
        for person in people { try await register(first, person) }
        #expect(waiting(first).count == 3)
        first.kill()  // SIGKILL while all three wait
        let sink = try SMTPSink(port: port)
        let second = try RunningServer(arguments: ["--smtp-url", "smtp://127.0.0.1:\(port)"], data: data)
        #expect(try await eventually { sink.messages().count == 3 })
        let recipients = Set(
            sink.messages().compactMap { message in people.first { message.contains("X-Sink-Rcpt-To: \($0)\r\n") } })
        #expect(recipients == Set(people))
        #expect(try await eventually { waiting(second).isEmpty })
    }

    @Test func aPermanentRefusalFailsAndRetryResendsWhileErasurePurges() async throws {
        let gate = NSTemporaryDirectory() + "smtp-reject-" + UUID().uuidString
        #expect(FileManager.default.createFile(atPath: gate, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: gate) }
        let sink = try SMTPSink(arguments: ["--reject-while", gate])
        let server = try RunningServer(arguments: ["--smtp-url", "smtp://127.0.0.1:\(sink.port)"])
        try await register(server, "frank@example.com")
        try await register(server, "grace@example.com")
        // A failed message is copied into `failed/` before it leaves `new/` (nothing lost if
        // authd dies between), so both hold it for a moment: wait for `new/` to empty too.
        #expect(try await eventually { failed(server.data).count == 2 && waiting(server).isEmpty })
        let page = try await metrics(server)
        #expect(metric("authlog_mail_failed", in: page) == 2)
        #expect(metric("authlog_mail_queued", in: page) == 0)

        let list = try runAuthctl(["--data", server.data, "mail", "list", "--failed", "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        let lines = list.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.contains("550") && $0.contains("\"state\":\"failed\"") }, "\(list.stdout)")
        #expect(tokens(in: list.stdout).isEmpty, "no token in the reason")
        for name in failed(server.data) {
            let stored = try String(contentsOfFile: server.data + "/maildir/failed/" + name, encoding: .utf8)
            let note = try #require(stored.split(separator: "\r\n").first)
            #expect(note.hasPrefix("X-Authlog-Failure: ") && tokens(in: String(note)).isEmpty)
            #expect(permissions(of: server.data + "/maildir/failed/" + name) == 0o600)
        }

        // Erasure purges the failed mail of the erased user.
        #expect(try runAuthctl(["--data", server.data, "erase", "frank@example.com"]).status == 0)
        #expect(failed(server.data).count == 1)

        try FileManager.default.removeItem(atPath: gate)
        let retried = try runAuthctl(["--data", server.data, "mail", "retry", "--all"])
        #expect(retried.status == 0 && retried.stdout.contains("queued 1 message again"), "\(retried.stderr)")
        #expect(try await eventually { sink.messages().count == 1 })
        #expect(sink.messages()[0].contains("X-Sink-Rcpt-To: grace@example.com\r\n"))
        #expect(failed(server.data).isEmpty)
        #expect(try await eventually { waiting(server).isEmpty })

        let unknown = try runAuthctl(["--data", server.data, "mail", "retry", "no-such.authlog"])
        #expect(unknown.status == 2 && unknown.stderr.contains("no failed message named no-such.authlog"))
    }

    /// A sink in `scratch` (made here) that offers STARTTLS with a certificate for 127.0.0.1
    /// (`scratch/cert.pem`, for authd's `--smtp-ca-file`) and requires AUTH as `login`.
    func startTLSSink(in scratch: String, login: String, password: String) throws -> SMTPSink {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let made = try runProcess(
            URL(fileURLWithPath: "/usr/bin/openssl"),
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", scratch + "/key.pem", "-out",
                scratch + "/cert.pem", "-days", "1", "-subj", "/CN=localhost", "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ])
        #expect(made.status == 0, "\(made.stderr)")
        return try SMTPSink(arguments: [
            "--tls-cert", scratch + "/cert.pem", "--tls-key", scratch + "/key.pem", "--auth", "\(login):\(password)",
        ])
    }

    @Test func startTLSAndAuthWithAPasswordFile() async throws {
        let scratch = NSTemporaryDirectory() + "smtp-tls-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let password = "pa55-" + UUID().uuidString
        let sink = try startTLSSink(in: scratch, login: "mailer", password: password)
        #expect(
            FileManager.default.createFile(
                atPath: scratch + "/password", contents: Data((password + "\n").utf8),
                attributes: [.posixPermissions: 0o600]))
        let server = try RunningServer(arguments: [
            "--smtp-url", "smtp://mailer@127.0.0.1:\(sink.port)", "--smtp-password-file", scratch + "/password",
            "--smtp-starttls", "required", "--smtp-ca-file", scratch + "/cert.pem",
        ])
        try await register(server, "heidi@example.com")
        #expect(try await eventually { sink.messages().count == 1 })
        let message = try #require(sink.messages().first)
        #expect(message.contains("X-Sink-TLS: yes\r\n") && message.contains("X-Sink-Auth: mailer\r\n"))
        #expect(tokens(in: message).count >= 1)
        server.process.terminate()
        server.process.waitForExit()
        #expect(!server.remainingOutput().contains(password), "the password is never logged")
    }

    /// A login the server refuses (535) is the sender's settings, not the message: the mail
    /// waits and is tried again, and goes out once authd has the right password.
    @Test func aRefusedLoginKeepsTheMailWaitingUntilThePasswordIsMended() async throws {
        let scratch = NSTemporaryDirectory() + "smtp-login-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let password = "pa55-" + UUID().uuidString
        let sink = try startTLSSink(in: scratch, login: "mailer", password: password)
        let passwordFile = scratch + "/password"
        #expect(
            FileManager.default.createFile(
                atPath: passwordFile, contents: Data("not-the-password\n".utf8), attributes: [.posixPermissions: 0o600])
        )
        let mail = [
            "--smtp-url", "smtp://mailer@127.0.0.1:\(sink.port)", "--smtp-password-file", passwordFile,
            "--smtp-starttls", "required", "--smtp-ca-file", scratch + "/cert.pem",
        ]
        let first = try RunningServer(arguments: mail)
        let data = first.data
        defer { try? FileManager.default.removeItem(atPath: data) }
        try await register(first, "ivan@example.com")
        // Two refused attempts: the second comes only if the first was taken as temporary.
        try #require(
            try await eventually {
                (metric("authlog_mail_delivery_failures_total", in: try await metrics(first)) ?? 0) >= 2
            })
        #expect(failed(data).isEmpty, "a refused login fails no message")
        #expect(waiting(first).count == 1, "the message waits in the outbox")
        #expect(sink.messages().isEmpty)
        first.kill()  // the data directory stays for the restart with the right password

        #expect(
            FileManager.default.createFile(
                atPath: passwordFile, contents: Data((password + "\n").utf8), attributes: [.posixPermissions: 0o600]))
        let second = try RunningServer(arguments: mail, data: data)
        try #require(try await eventually { sink.messages().count == 1 })
        let message = try #require(sink.messages().first)
        #expect(message.contains("X-Sink-Rcpt-To: ivan@example.com\r\n"))
        #expect(try await eventually { waiting(second).isEmpty })
        #expect(failed(data).isEmpty)
    }

    @Test func badMailSettingsAreRefusedAtStart() throws {
        for arguments in [
            ["--smtp-url", "http://mail.example.com"], ["--smtp-url", "smtp://mail.example.com:99999"],
            ["--smtp-url", "smtp://127.0.0.1:25", "--smtp-starttls", "sometimes"],
            ["--smtp-password-file", "/nonexistent"], ["--mail-from", "nobody"],
        ] {
            let data = NSTemporaryDirectory() + "mail-settings-" + UUID().uuidString
            defer { try? FileManager.default.removeItem(atPath: data) }
            let started = try StartedAuthd(data: data, arguments: arguments)
            #expect(started.port == 0 && started.status == 64, "\(arguments): \(started.output)")
            #expect(started.output.split(separator: "\n").count == 1, "one line: \(started.output)")
        }
    }
}
