import Foundation
import TestSupport
import Testing

/// `--durability journal` from outside: authd is then the log's only writer, says so to a
/// writer that tries, lets readers in, and leaves the journal clean when stopped. (Kills under
/// load: `KillCampaignTests.everyAcknowledgedWriteSurvivesKillsWithTheJournal`; power losses:
/// `JournalTests`.)
@Suite(.ownThreads) struct JournalDurabilityTests {
    @Test func aJournaledAuthdIsTheOnlyWriterAndReadersStillGetIn() throws {
        let data = NSTemporaryDirectory() + "authd-journal-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let server = try StartedAuthd(data: data, arguments: ["--durability", "journal"])
        #expect(server.port != 0, "\(server.output)")
        let refused = try runAuthctl(
            ["--data", data, "create-admin", "--email", "root@example.com"], input: "the root passphrase\n")
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--durability journal has the log open"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "one line: \(refused.stderr)")
        let verified = try runAuthctl(["--data", data, "verify"])
        #expect(verified.status == 0, "a reader gets in: \(verified.stderr)")
        server.stop()
        // Stopped, authd left the journal clean: authctl writes, syncing its own commits.
        let created = try runAuthctl(
            ["--data", data, "create-admin", "--email", "root@example.com"], input: "the root passphrase\n")
        #expect(created.status == 0, "\(created.stderr)")
        // And a journaled authd is refused while another writer has the log open: here,
        // authd without the journal.
        let plain = try StartedAuthd(data: data)
        #expect(plain.port != 0, "\(plain.output)")
        let second = try StartedAuthd(data: data, arguments: ["--durability", "journal", "--port", "0"])
        #expect(second.port == 0 && second.status != 0)
        #expect(second.output.contains("another process has the log open"), "\(second.output)")
        plain.stop()
    }

    @Test func anUnknownDurabilityOrOneForANodeIsRefused() throws {
        let data = NSTemporaryDirectory() + "authd-journal-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let unknown = try StartedAuthd(data: data, arguments: ["--durability", "fast"])
        #expect(unknown.status == 64)
        #expect(unknown.output.contains("--durability must be sync or journal"), "\(unknown.output)")
        let node = try StartedAuthd(
            data: data, arguments: ["--durability", "journal", "--log-url", "postgres://nobody@127.0.0.1:1/none"])
        #expect(node.status == 64)
        #expect(node.output.contains("--durability journal is for the embedded log"), "\(node.output)")
        #expect(!FileManager.default.fileExists(atPath: data + "/data.mdb"), "refused before anything was made")
    }
}
