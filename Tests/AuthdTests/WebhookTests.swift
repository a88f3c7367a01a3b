import Foundation
import TestSupport
import Testing

/// Webhooks against a real authd and a real receiver on loopback (tools/webhooks/receiver.py),
/// which checks every signature with Python's own hmac.
@Suite(.ownThreads)
struct WebhookTests {
    /// The receiver script, started on an ephemeral port; its log of requests.
    final class Receiver {
        let process = Process()
        let directory = NSTemporaryDirectory() + "webhook-receiver-" + UUID().uuidString
        var log: String { directory + "/requests.jsonl" }
        var secretFile: String { directory + "/secret" }
        private(set) var port = 0

        init(_ options: [String] = []) throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("tools/webhooks/receiver.py").path
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script, "--secret-file", secretFile, "--log", log] + options
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            ChildProcesses.atExit.adopt(process)
            var text = ""
            while !text.contains("\n") {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            port = Int(text.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        }

        var url: String { "http://127.0.0.1:\(port)/hooks" }

        /// Every request received so far.
        func requests() -> [[String: Any]] {
            guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
            return text.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }

        /// Stopped with SIGKILL: a child of the test process may inherit SIGTERM ignored, and
        /// Python keeps that disposition (waiting for it to exit then never ends).
        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitForExit()
            }
            ChildProcesses.atExit.release(process)
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Adds an endpoint for `receiver`; returns its id, and gives the receiver the secret.
    /// `cluster`: `data` is a node's, whose key store is the shared database's.
    static func addEndpoint(
        _ data: String, _ receiver: Receiver, events: String, after: Int? = 0, cluster: Cluster? = nil
    ) throws -> String {
        var arguments = ["--data", data, "webhooks", "add", receiver.url, "--events", events]
        if let after { arguments += ["--after", String(after)] }
        if let cluster { arguments += ["--log-url", cluster.database.url] }
        let output = try authctlOutput(arguments, environment: cluster.map { ["AUTHLOG_KEK": $0.kek] } ?? [:])
        let fields = Dictionary(
            output.split(separator: "\n").compactMap { line -> (String, String)? in
                let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
                return parts.count == 2 ? (parts[0], parts[1]) : nil
            }, uniquingKeysWith: { $1 })
        let secret = try #require(fields["secret:"])
        #expect(secret.hasPrefix("whsec_") && Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32)
        try secret.write(toFile: receiver.secretFile, atomically: true, encoding: .utf8)
        return try #require(fields["id:"])
    }

    /// Acknowledged positions of `type` (status 200), in the order received.
    static func acknowledged(_ receiver: Receiver, type: String = "UserRegistered") -> [Int] {
        receiver.requests().filter { $0["status"] as? Int == 200 && $0["type"] as? String == type }
            .compactMap { $0["position"] as? Int }
    }

    @Test func signedDeliveriesRetriedUntilAcknowledgedEachOnceInOrder() async throws {
        let receiver = try Receiver(["--fail-first", "3"])
        let (server, _) = try await EventFeedTests.serverWithAdmin(arguments: ["--webhook-first-retry", "0.05"])
        // Added while authd runs: it takes effect without a restart.
        let id = try Self.addEndpoint(server.data, receiver, events: "UserRegistered")
        var users: [String] = []
        for index in 0..<3 { users.append(try await EventFeedTests.register(server, "hook\(index)@example.com")) }
        let delivered = try await pollUntil(timeout: 30) { () -> [Int]? in
            let acked = Self.acknowledged(receiver)
            return acked.count >= 4 ? acked : nil  // the admin's registration and three more
        }
        let acked = try #require(delivered)
        #expect(acked == acked.sorted() && Set(acked).count == acked.count, "each once, in log order: \(acked)")
        // Deliveries that came before the test gave the receiver the secret were answered 503
        // and judged nothing.
        let requests = receiver.requests().filter { $0["status"] as? Int != 503 }
        #expect(requests.allSatisfy { $0["verified"] as? Bool == true }, "every signature verifies")
        #expect(requests.filter { $0["status"] as? Int == 500 }.count == 3)
        #expect(requests.allSatisfy { $0["type"] as? String == "UserRegistered" })
        #expect(Set(requests.compactMap { $0["id"] as? String }).count == acked.count, "retries keep their id")
        // The endpoint's files: 0600 in a 0700 directory; the secret never in authd's output.
        #expect(permissions(of: server.data + "/webhooks") == 0o700)
        #expect(permissions(of: server.data + "/webhooks/\(id).json") == 0o600)
        #expect(permissions(of: server.data + "/webhooks/\(id).state") == 0o600)
        let secret = try String(contentsOfFile: receiver.secretFile, encoding: .utf8)
        let listed = try authctlOutput(["--data", server.data, "webhooks", "list"])
        #expect(listed.contains(id) && listed.contains("active") && !listed.contains(secret))
        #expect(!listed.contains("whsec_"))
        // `test` posts a signed message now; `remove` stops deliveries.
        #expect(try authctl(["--data", server.data, "webhooks", "test", id]) == 0)
        #expect(
            receiver.requests().contains { $0["type"] as? String == "webhook.test" && $0["verified"] as? Bool == true })
        #expect(try authctl(["--data", server.data, "webhooks", "remove", id]) == 0)
        #expect(!(try authctlOutput(["--data", server.data, "webhooks", "list"]).contains(id)))
    }

    @Test func killedMidDeliveryNothingAcknowledgedIsLostNorRepeatedBeyondOne() async throws {
        let receiver = try Receiver(["--delay", "0.05"])
        let arguments = ["--webhook-first-retry", "0.05", "--registration-rate-limit", "1000"]
        let first = try RunningServer(arguments: arguments)
        for index in 0..<30 { _ = try await EventFeedTests.register(first, "kill\(index)@example.com") }
        _ = try Self.addEndpoint(first.data, receiver, events: "UserRegistered")
        _ = try await pollUntil(timeout: 30) { Self.acknowledged(receiver).count >= 8 ? true : nil }
        first.kill()
        defer { try? FileManager.default.removeItem(atPath: first.data) }
        let before = Self.acknowledged(receiver)
        let second = try RunningServer(arguments: arguments, data: first.data)
        defer { withExtendedLifetime(second) {} }
        let all = try await pollUntil(timeout: 60) { () -> [Int]? in
            let acked = Self.acknowledged(receiver)
            return Set(acked).count >= 30 ? acked : nil
        }
        let acked = try #require(all, "every registration delivered after the restart")
        #expect(Set(acked).count == 30)
        // Only what was in flight at the kill may come twice: at most one event.
        #expect(acked.count - Set(acked).count <= 1, "\(acked.count) deliveries of \(Set(acked).count) events")
        #expect(Set(before).isSubset(of: Set(acked)))
        #expect(
            receiver.requests().filter { $0["status"] as? Int != 503 }.allSatisfy { $0["verified"] as? Bool == true })
    }

    @Test func anEndpointFailingTooLongIsDisabledAndListedSo() async throws {
        let receiver = try Receiver(["--always-fail"])
        let server = try RunningServer(arguments: ["--webhook-first-retry", "0.05", "--webhook-disable-after", "1"])
        _ = try await EventFeedTests.register(server, "fail@example.com")
        let id = try Self.addEndpoint(server.data, receiver, events: "*")
        // Bounded generously: on a loaded parallel run each `list` alone takes seconds.
        let disabled = try await pollUntil(timeout: 120) { () -> String? in
            let line = try authctlOutput(["--data", server.data, "webhooks", "list", "--json"])
            return line.contains("\"status\":\"disabled\"") ? line : nil
        }
        let line = try #require(disabled)
        // 503 while the receiver had no secret yet, 500 after: either is the last failure.
        #expect(line.contains(id) && line.contains("HTTP 50") && line.contains("disabled_at"))
    }

    /// A receiver that sends its answer's status and headers and then holds the announced body
    /// back no longer holds the delivery: at `--webhook-timeout` its status decides. Failing
    /// (503, then 500), the endpoint is retried and disabled past `--webhook-disable-after`.
    /// Before, the timeout ended with the headers and the delivery waited for the body for
    /// ever, the endpoint listed `active`.
    @Test func aReceiverHoldingItsAnswerBackFailsTheDeliveryAndIsDisabled() async throws {
        let receiver = try Receiver(["--always-fail", "--stall-body"])
        let server = try RunningServer(arguments: [
            "--webhook-first-retry", "0.05", "--webhook-disable-after", "1", "--webhook-timeout", "0.5",
        ])
        _ = try await EventFeedTests.register(server, "stalled@example.com")
        let id = try Self.addEndpoint(server.data, receiver, events: "*")
        let disabled = try await pollUntil(timeout: 120) { () -> String? in
            let line = try authctlOutput(["--data", server.data, "webhooks", "list", "--json"])
            return line.contains("\"status\":\"disabled\"") ? line : nil
        }
        let line = try #require(disabled, "the stalled endpoint was never disabled")
        #expect(line.contains(id) && line.contains("HTTP 50") && line.contains("disabled_at"))
        #expect(receiver.requests().count >= 2, "not retried: \(receiver.requests())")
    }

    /// The same receiver answering 200 (once it knows the secret) has taken each event: the
    /// next ones follow, in order. Before, the first answer held the delivery for ever.
    /// (Deliveries are at least once: an answer whose head comes late on a loaded machine is
    /// sent again, so an event may be acknowledged twice; their first acknowledgements keep
    /// the log's order.)
    @Test func aReceiverHoldingBackTheBodyOfA2xxStillTakesEachEventInTurn() async throws {
        let receiver = try Receiver(["--stall-body"])
        let server = try RunningServer(arguments: ["--webhook-first-retry", "0.05", "--webhook-timeout", "2"])
        for name in ["first", "second", "third"] {
            _ = try await EventFeedTests.register(server, "\(name)@example.com")
        }
        _ = try Self.addEndpoint(server.data, receiver, events: "UserRegistered")
        let acked = try await pollUntil(timeout: 120) { () -> [Int]? in
            let acked = Self.acknowledged(receiver)
            return Set(acked).count >= 3 ? acked : nil
        }
        let positions = try #require(acked, "not delivered: \(receiver.requests())")
        var firsts: [Int] = []
        for position in positions where !firsts.contains(position) { firsts.append(position) }
        #expect(firsts == firsts.sorted() && firsts.count == 3, "\(positions)")
    }

    /// A receiver answering a redirect has not taken the event: the redirect is a failure (as
    /// Standard Webhooks says), never followed, so the event is not taken as delivered by a
    /// GET it became (302), nor posted to an address the receiver names (307).
    @Test(arguments: [302, 307])
    func aRedirectIsAFailureAndIsNotFollowed(_ status: Int) async throws {
        let elsewhere = try Receiver()
        let moved = try Receiver(["--redirect-status", String(status), "--redirect-to", elsewhere.url])
        let server = try RunningServer(arguments: ["--webhook-first-retry", "0.05"])
        _ = try await EventFeedTests.register(server, "moved@example.com")
        let id = try Self.addEndpoint(server.data, moved, events: "UserRegistered")
        try String(contentsOfFile: moved.secretFile, encoding: .utf8).write(
            toFile: elsewhere.secretFile, atomically: true, encoding: .utf8)
        let failing = try await pollUntil(timeout: 60) { () -> String? in
            // Signed deliveries (the receiver knows the secret by then) that were answered so.
            guard moved.requests().contains(where: { $0["verified"] as? Bool == true }) else { return nil }
            let line = try authctlOutput(["--data", server.data, "webhooks", "list", "--json"])
            return line.contains("HTTP \(status)") ? line : nil
        }
        let line = try #require(failing, "the endpoint was not marked failing with HTTP \(status)")
        #expect(line.contains(id))
        #expect(elsewhere.requests().isEmpty, "followed: \(elsewhere.requests())")
        // `authctl webhooks test` does not follow it either.
        #expect(try authctl(["--data", server.data, "webhooks", "test", id]) == 1)
        #expect(elsewhere.requests().isEmpty)
    }
}
