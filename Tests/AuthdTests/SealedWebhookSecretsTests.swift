import DataProtection
import Foundation
import TestSupport
import Testing

/// Webhook secrets are sealed under the data directory's key: a copy of the directory taken
/// without the key-encryption key holds no secret to sign deliveries with; an endpoint from
/// before sealed secrets is sealed at authd's start and keeps signing with its secret.
@Suite(.ownThreads) struct SealedWebhookSecretsTests {
    /// Every file under `directory`, with its bytes.
    func files(under directory: String) -> [(String, Data)] {
        let names = FileManager.default.enumerator(atPath: directory)?.allObjects as? [String] ?? []
        return names.compactMap { name in
            FileManager.default.contents(atPath: directory + "/" + name).map { (name, $0) }
        }
    }

    /// Verified deliveries of UserRegistered events the receiver answered 200.
    func verifiedRegistrations(_ receiver: WebhookTests.Receiver) -> Int {
        receiver.requests().filter {
            $0["status"] as? Int == 200 && $0["verified"] as? Bool == true
                && $0["type"] as? String == "UserRegistered"
        }.count
    }

    /// The attacker reads every file of a copy of the data directory, the KEK kept elsewhere:
    /// neither the secret's text nor its 32 bytes are anywhere in it, while authd, which has
    /// the KEK, signs with it. Before secrets were sealed, `webhooks/ep_*.json` held the
    /// secret in the clear.
    @Test func aCopyOfTheDirectoryWithoutTheKEKHoldsNoWebhookSecret() async throws {
        let kek = NSTemporaryDirectory() + "authd-kek-" + UUID().uuidString
        try SecretFile.create(kek, contents: Array((try KeyEncryptionKey.generate().text + "\n").utf8))
        defer { unlink(kek) }
        let server = try RunningServer(environment: ["AUTHLOG_KEK_FILE": kek])
        let receiver = try WebhookTests.Receiver()
        var arguments = ["--data", server.data, "webhooks", "add", receiver.url, "--events", "UserRegistered"]
        arguments += ["--after", "0"]
        let output = try authctlOutput(arguments, environment: ["AUTHLOG_KEK_FILE": kek])
        let secret = try #require(output.split(separator: "\n").first { $0.hasPrefix("secret: ") }?.dropFirst(8))
        try String(secret).write(toFile: receiver.secretFile, atomically: true, encoding: .utf8)
        _ = try await EventFeedTests.register(server, "hooked@example.com")
        let delivered = try await pollUntil(timeout: 30) { verifiedRegistrations(receiver) > 0 ? true : nil }
        #expect(delivered == true, "a delivery signed with the sealed secret verifies")

        let raw = try #require(Data(base64Encoded: String(secret.dropFirst("whsec_".count))))
        #expect(raw.count == 32)
        let copy = files(under: server.data)
        #expect(copy.contains { $0.0.hasPrefix("webhooks/ep_") && $0.0.hasSuffix(".json") })
        for (name, bytes) in copy {
            #expect(bytes.range(of: Data(secret.utf8)) == nil, "the secret's text in \(name)")
            #expect(bytes.range(of: Data("whsec_".utf8)) == nil, "a secret in \(name)")
            #expect(bytes.range(of: raw) == nil, "the secret's bytes in \(name)")
        }
    }

    /// An endpoint file written before secrets were sealed (`secret` in the clear): authd
    /// seals it at start, says so, zeroes the old file's bytes, and its deliveries still
    /// verify with the same secret.
    @Test func anEndpointFromBeforeSealedSecretsIsSealedAtStartAndStillSigns() async throws {
        let receiver = try WebhookTests.Receiver()
        let secret = "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        try secret.write(toFile: receiver.secretFile, atomically: true, encoding: .utf8)
        let id = "ep_" + (0..<12).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let oldName = NSTemporaryDirectory() + "webhook-old-name-" + UUID().uuidString
        defer { unlink(oldName) }
        let server = try RunningServer { data in
            try SecretFile.makeDirectory(data + "/webhooks")
            let endpoint: [String: Any] = [
                "id": id, "url": receiver.url, "events": ["UserRegistered"], "secret": secret, "start_after": 0,
                "created_at": "2026-12-01T00:00:00Z",
            ]
            let file = data + "/webhooks/\(id).json"
            try SecretFile.create(file, contents: [UInt8](try JSONSerialization.data(withJSONObject: endpoint)))
            #expect(link(file, oldName) == 0)  // a second name of the old file, to read it after
        }
        #expect(server.startupOutput.contains("sealed the webhook secrets written in the clear"))
        let text = try String(contentsOfFile: server.data + "/webhooks/\(id).json", encoding: .utf8)
        #expect(text.contains("sealed_secret") && !text.contains("whsec_"), "\(text)")
        let old = try #require(FileManager.default.contents(atPath: oldName))
        #expect(!old.isEmpty && old.allSatisfy { $0 == 0 }, "the old file's bytes are zeros")

        _ = try await EventFeedTests.register(server, "kept-hook@example.com")
        let delivered = try await pollUntil(timeout: 30) { verifiedRegistrations(receiver) > 0 ? true : nil }
        #expect(delivered == true, "deliveries verify with the secret from before: \(receiver.requests())")
    }
}
