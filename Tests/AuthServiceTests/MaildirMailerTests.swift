import AuthService
import Foundation
import TestSupport
import Testing

@Suite(.ownThreads) struct MaildirMailerTests {
    /// Messages queued within one second come out in the order they were queued: a second
    /// verification mail is delivered after the first, and its token is the newest one.
    @Test func messagesWaitInTheOrderTheyWereQueued() async throws {
        let directory = NSTemporaryDirectory() + "maildir-order-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let mailer = try MaildirMailer(directory: directory)
        let subjects = (0..<50).map { "message \($0)" }
        for subject in subjects {
            try await mailer.send(
                MailMessage(to: "ada@example.com", subject: subject, body: "text", html: nil, user: UUID()))
        }
        let waiting = try mailer.waitingMessages().map { text in
            text.split(separator: "\r\n").first { $0.hasPrefix("Subject: ") }.map { String($0.dropFirst(9)) }
        }
        #expect(waiting == subjects)
        // The queue time is still read from the name's start.
        let names = mailer.waitingNames()
        #expect(names.allSatisfy { abs((MaildirMailer.queuedAt($0) ?? .distantPast).timeIntervalSinceNow) < 600 })
    }
}
