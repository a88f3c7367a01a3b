import AuthService
import Foundation
import Logging
import MailDelivery
import TestSupport
import Testing

/// The delivery worker against a real SMTP server on loopback (aiosmtpd).
@Suite(.ownThreads) struct DeliveryWorkerTests {
    /// A waiting message whose user is erased (queued after the erase purged the outbox, by a
    /// request decided before it committed, or erased through another node) is deleted, never
    /// sent; the others go as before.
    @Test func anErasedUsersMailIsDeletedInsteadOfSent() async throws {
        let sink = try SMTPSink()
        defer { sink.remove() }
        let directory = NSTemporaryDirectory() + "outbox-erased-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outbox = try MaildirMailer(directory: directory)
        let (erased, kept) = (UUID(), UUID())
        // The erased user's message first: by the time the other is received, it was handled.
        try await outbox.send(MailMessage(to: "gone@example.com", subject: "to the erased", body: "x", user: erased))
        try await outbox.send(MailMessage(to: "kept@example.com", subject: "to the kept", body: "x", user: kept))
        let worker = DeliveryWorker(
            outbox: outbox, settings: try SMTPSettings(url: "smtp://127.0.0.1:\(sink.port)"),
            sender: "no-reply@example.com", retryPeriod: 60, logger: Logger(label: "delivery-test"),
            erased: { $0 == erased })
        try worker.start()
        defer { worker.stop() }
        #expect(try await eventually { !sink.messages().isEmpty && outbox.waitingNames().isEmpty })
        let received = sink.messages()
        #expect(received.count == 1 && received.first?.contains("Subject: to the kept") == true, "\(received)")
        #expect(!received.contains { $0.contains("gone@example.com") }, "an erased user's mail was sent")
        #expect(try outbox.heldUsers().isEmpty)
    }

    /// The users held mail names, read from each message's head, whichever folder holds it.
    @Test func heldUsersAreTheUsersTheOutboxHoldsMailFor() async throws {
        let directory = NSTemporaryDirectory() + "outbox-held-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outbox = try MaildirMailer(directory: directory)
        let users = [UUID(), UUID()]
        for user in users {
            try await outbox.send(MailMessage(to: "a@example.com", subject: "s", body: "x", user: user))
        }
        try await outbox.send(MailMessage(to: "b@example.com", subject: "no user", body: "x"))
        try outbox.markFailed(try #require(outbox.waitingNames().first), reason: "refused")
        #expect(try outbox.heldUsers() == Set(users))
        try await outbox.purge(user: users[0])
        #expect(try outbox.heldUsers() == [users[1]])
    }
}
