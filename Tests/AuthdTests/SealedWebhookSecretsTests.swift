import DataProtection
import Foundation
import Synchronization
import TestSupport
import Testing
import Webhooks

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
        var probe: Int32 = -1  // the old file, held open to read its bytes once replaced
        defer { if probe >= 0 { close(probe) } }
        let server = try RunningServer { data in
            try SecretFile.makeDirectory(data + "/webhooks")
            let endpoint: [String: Any] = [
                "id": id, "url": receiver.url, "events": ["UserRegistered"], "secret": secret, "start_after": 0,
                "created_at": "2026-12-01T00:00:00Z",
            ]
            let file = data + "/webhooks/\(id).json"
            try SecretFile.create(file, contents: [UInt8](try JSONSerialization.data(withJSONObject: endpoint)))
            probe = open(file, O_RDONLY)
        }
        #expect(server.startupOutput.contains("sealed the webhook secrets written in the clear"))
        let text = try String(contentsOfFile: server.data + "/webhooks/\(id).json", encoding: .utf8)
        #expect(text.contains("sealed_secret") && !text.contains("whsec_"), "\(text)")
        var old = [UInt8](repeating: 1, count: 64)
        #expect(pread(probe, &old, old.count, 0) == old.count && old.allSatisfy { $0 == 0 }, "old bytes: \(old)")

        _ = try await EventFeedTests.register(server, "kept-hook@example.com")
        let delivered = try await pollUntil(timeout: 30) { verifiedRegistrations(receiver) > 0 ? true : nil }
        #expect(delivered == true, "deliveries verify with the secret from before: \(receiver.requests())")
    }

    /// A data directory of the test's own with `count` endpoints written as before secrets
    /// were sealed; removed by the caller.
    func endpointsInTheClear(_ count: Int) throws -> (data: String, ids: [String]) {
        let data = NSTemporaryDirectory() + "webhook-clear-" + UUID().uuidString
        try SecretFile.makeDirectory(data)
        try SecretFile.makeDirectory(data + "/webhooks")
        let ids = (0..<count).map { _ in
            "ep_" + (0..<12).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        }
        for id in ids {
            let endpoint: [String: Any] = [
                "id": id, "url": "http://127.0.0.1:9/hooks", "events": ["*"], "secret": "whsec_AAAA",
                "created_at": "2026-12-01T00:00:00Z",
            ]
            try SecretFile.create(
                data + "/webhooks/\(id).json", contents: [UInt8](try JSONSerialization.data(withJSONObject: endpoint)))
        }
        return (data, ids)
    }

    /// An endpoint removed while authd seals the directory (`authctl webhooks remove` beside
    /// authd's start) stays removed: both hold the directory's lock, so sealing never writes
    /// back a file removed after it listed them.
    @Test func anEndpointRemovedWhileSecretsAreSealedStaysRemoved() throws {
        let sealing = FileSealingKey(logSigningSeed: (0..<32).map { _ in UInt8.random(in: 0...255) })
        for _ in 0..<20 {
            let (data, ids) = try endpointsInTheClear(48)
            defer { try? FileManager.default.removeItem(atPath: data) }
            let store = WebhookStore(dataDirectory: data)
            let removed = Mutex(false)
            let done = DispatchSemaphore(value: 0)
            let remover = Thread {
                removed.withLock { $0 = (try? store.remove(ids[47])) != nil }
                done.signal()
            }
            remover.start()
            do {
                defer { done.wait() }  // the remover ends before the directory is removed
                #expect(try store.sealSecretsInTheClear(sealing: sealing).notSealed.isEmpty)
            }
            #expect(removed.withLock { $0 })
            #expect(!FileManager.default.fileExists(atPath: data + "/webhooks/\(ids[47]).json"), "brought back")
            #expect(try store.endpoints().count == 47)
        }
    }

    /// A delivery's state saved as its endpoint is removed is never left behind without the
    /// endpoint (a file no command would remove): the save and the removal hold the
    /// directory's lock, and a save after the removal fails with `noSuchEndpoint`, which ends
    /// that endpoint's deliveries. Before, the state was written all the same.
    @Test func aStateSavedAsItsEndpointIsRemovedIsNotLeftBehind() throws {
        let sealing = FileSealingKey(logSigningSeed: (0..<32).map { _ in UInt8.random(in: 0...255) })
        let data = NSTemporaryDirectory() + "webhook-state-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        try SecretFile.makeDirectory(data)
        let store = WebhookStore(dataDirectory: data)
        func add() throws -> String {
            try store.add(
                url: "https://hooks.example.com/in", events: ["*"], knownTypes: [], startAfter: nil, sealing: sealing
            ).endpoint.id
        }
        let gone = try add()
        try store.save(WebhookState(checkpoint: 1), of: gone)
        // What a save cut short by a crash leaves: removed with its endpoint.
        try SecretFile.create(data + "/webhooks/\(gone).state.tmp-\(UUID().uuidString)", contents: [0x7b, 0x7d])
        try store.remove(gone)
        #expect(throws: WebhookStore.StoreError.self) { try store.save(WebhookState(checkpoint: 2), of: gone) }
        #expect(!FileManager.default.fileExists(atPath: data + "/webhooks/\(gone).state"), "left behind")
        // The same with the removal racing the saves, 20 times.
        for _ in 0..<20 {
            let id = try add()
            let started = DispatchSemaphore(value: 0)
            let removed = Mutex(false)
            let remover = Thread {
                started.wait()
                try? store.remove(id)
                removed.withLock { $0 = true }
            }
            remover.start()
            var checkpoint: UInt64 = 0
            started.signal()
            // Saves until one fails or the removal is over, then once more after it.
            while !removed.withLock({ $0 }), (try? store.save(WebhookState(checkpoint: checkpoint), of: id)) != nil {
                checkpoint += 1
            }
            _ = try? store.save(WebhookState(checkpoint: checkpoint), of: id)
            #expect(!FileManager.default.fileExists(atPath: data + "/webhooks/\(id).state"), "left behind")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: data + "/webhooks")
        #expect(left.allSatisfy { !$0.contains(".state") && !$0.hasSuffix(".json") }, "\(left)")
    }

    /// A sealed secret moved into another endpoint's file opens for neither: it is sealed for
    /// its endpoint's id. `authctl webhooks test` says so and exits 2.
    @Test func aSecretMovedToAnotherEndpointDoesNotOpen() throws {
        let (data, ids) = try endpointsInTheClear(2)
        defer { try? FileManager.default.removeItem(atPath: data) }
        let keys = try KeyStore(dataDirectory: data, environment: [:])
        let sealing = try #require(keys.fileSealingKey)
        let store = WebhookStore(dataDirectory: data)
        #expect(try store.sealSecretsInTheClear(sealing: sealing).sealed == 2)
        let first = try String(contentsOfFile: data + "/webhooks/\(ids[0]).json", encoding: .utf8)
        #expect(try store.endpoint(ids[0]).secret(sealing) == "whsec_AAAA")
        let moved = first.replacingOccurrences(of: ids[0], with: ids[1])
        try SecretFile.replace(data + "/webhooks/\(ids[1]).json", contents: Array(moved.utf8))
        #expect(throws: DataProtectionError.tampered) { try store.endpoint(ids[1]).secret(sealing) }
        #expect(throws: WebhookEndpoint.SigningKeyError.doesNotOpen) { try store.endpoint(ids[1]).signingKey(sealing) }
        // It opens for its own endpoint, but three bytes are too few to sign with.
        #expect(throws: WebhookEndpoint.SigningKeyError.unusable) { try store.endpoint(ids[0]).signingKey(sealing) }
        let tested = try runAuthctl(["--data", data, "webhooks", "test", ids[1]])
        #expect(tested.status == 2 && tested.stderr.contains("does not open"), "\(tested.stderr)")
    }
}
