import Foundation
import MailDelivery
import TestSupport
import Testing

/// `--smtp-url` as authd reads it, and the reasons it keeps for failed mail.
@Suite(.ownThreads) struct SMTPSettingsTests {
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

    /// Only an address is taken for loopback: a name is resolved by DNS, and whoever answers
    /// for it could send the relay's traffic anywhere, so STARTTLS stays required for it.
    @Test func onlyALoopbackAddressMakesStartTLSOptional() throws {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "[::1]", "[0:0:0:0:0:0:0:1]"] {
            #expect(try !SMTPSettings(url: "smtp://\(host):25").requiresTLS, "\(host)")
        }
        for host in [
            "127.mail.example.com", "127.0.0.1.nip.io", "localhost.example.com", "128.0.0.1", "[::2]",
            "[::ffff:127.0.0.1]",
        ] {
            #expect(try SMTPSettings(url: "smtp://\(host):25").requiresTLS, "\(host)")
        }
    }

    /// Runs `body` with a password file only its owner can read and write (taken), and an SMTP
    /// URL naming a user; the file is removed after.
    func withPasswordFile(_ body: (_ path: String, _ url: String) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "smtp-password-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(
            FileManager.default.createFile(
                atPath: path, contents: Data("s3cret\n".utf8), attributes: [.posixPermissions: 0o600]))
        let url = "smtp://mailer@mail.example.com"
        #expect(throws: Never.self) { try SMTPSettings(url: url, passwordFile: path) }
        try body(path, url)
    }

    /// A password file others can read is no secret: refused, as a loose key-encryption key
    /// file is; one only its owner can read is taken.
    @Test func aPasswordFileOthersCanReadIsRefused() throws {
        try withPasswordFile { path, url in
            for mode in [0o644, 0o640, 0o604, 0o620] {
                try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
                #expect(throws: SMTPSettingsError.self, "mode \(String(mode, radix: 8))") {
                    try SMTPSettings(url: url, passwordFile: path)
                }
            }
        }
    }

    /// A password file another user owns is refused, however tight its mode: its owner can
    /// rewrite it and so choose the password authd gives the relay (root's is taken). Run as
    /// root, which alone can give a file away.
    @Test(.enabled(if: geteuid() == 0)) func aPasswordFileAnotherUserOwnsIsRefused() throws {
        try withPasswordFile { path, url in
            #expect(chown(path, 65_534, 65_534) == 0)
            #expect(throws: SMTPSettingsError.self) { try SMTPSettings(url: url, passwordFile: path) }
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
