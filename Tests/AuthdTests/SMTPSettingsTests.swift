import MailDelivery
import Testing

/// `--smtp-url` as authd reads it, and the reasons it keeps for failed mail.
@Suite struct SMTPSettingsTests {
    @Test func theURLGivesServerCredentialsAndTLS() throws {
        let plain = try SMTPSettings(url: "smtp://mailer:p%40ss%3Aword@mail.example.com:2525")
        #expect(plain.serverURL == "smtp://mail.example.com:2525" && !plain.implicitTLS && plain.requiresTLS)
        #expect(plain.username == "mailer")
        #expect(!plain.description.contains("p@ss"), "never the password")
        let implicit = try SMTPSettings(url: "smtps://relay.example.com")
        #expect(implicit.serverURL == "smtps://relay.example.com:465" && implicit.implicitTLS)
        #expect(try SMTPSettings(url: "smtp://relay.example.com").port == 587)
        // Loopback relays often speak plain SMTP: STARTTLS only when offered, unless required.
        #expect(try !SMTPSettings(url: "smtp://127.0.0.1:25").requiresTLS)
        #expect(try !SMTPSettings(url: "smtp://[::1]:25").requiresTLS)
        #expect(try SMTPSettings(url: "smtp://127.0.0.1:25", tls: .required).requiresTLS)
        #expect(try !SMTPSettings(url: "smtp://mail.example.com", tls: .opportunistic).requiresTLS)
        for bad in [
            "http://mail.example.com", "smtp://", "smtp://mail.example.com:0", "smtp://mail.example.com:x",
            "smtp://mail.example.com/path", "smtp://:pw@mail.example.com", "smtp://mail.example.com?x=1",
        ] {
            #expect(throws: SMTPSettingsError.self, "\(bad)") { try SMTPSettings(url: bad) }
        }
    }

    @Test func failureReasonsLoseAnythingLikeAToken() {
        let token = "AZLkW7fJc3qP0x2dXnB4Vw.q8mN3v0R6tYkP1sLd9Xa2Wf5Jh7Cg4Bz0eQuIoMpKy"
        let reason = MailFailure.redacted("SMTP 550: mailbox unavailable for \(token)\r\nnext line")
        #expect(reason == "SMTP 550: mailbox unavailable for [redacted] next line")
        #expect(
            MailFailure.redacted("Failed to connect to 127.0.0.1 port 2525")
                == "Failed to connect to 127.0.0.1 port 2525")
    }
}
