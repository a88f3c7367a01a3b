import Foundation
import TestSupport
import Testing

/// authctl killed at the exact system call where a random kill rarely lands: strace sends
/// SIGKILL as the process enters its n-th call of one kind (`-e inject=...:signal=KILL`).
@Suite(
    .ownThreads,
    .enabled(if: SecretFileTests.strace != nil, "needs strace (and ptrace) to kill at a chosen system call"))
struct InterruptedWriterTests {
    /// Runs authctl under strace, killed as it enters its `when`-th `syscall`; returns its output.
    func authctlKilled(at syscall: String, when: Int, _ arguments: [String]) throws -> ProcessOutput {
        let strace = try #require(SecretFileTests.strace)
        return try runProcess(
            URL(fileURLWithPath: strace),
            [
                "-f", "-qq", "-o", "/dev/null", "-e", "trace=\(syscall)", "-e",
                "inject=\(syscall):signal=KILL:when=\(when)", products().appendingPathComponent("authctl").path,
            ] + arguments, environment: cleanEnvironment([:]))
    }

    /// Killed between moving the key store and moving the log into place: no writer opens
    /// the directory (authd would start an empty log beside the imported keys), verify says
    /// what happened, and the next import finishes the move.
    @Test func anImportKilledBetweenItsMovesIsFinishedByTheNextImport() async throws {
        let scratch = try FaultScratch()
        let source = scratch.at("source")
        try WriterKillCampaignTests().prepare(source, users: 50, events: 500)
        let file = scratch.at("export.jsonl")
        try (try exportLines(source).joined(separator: "\n") + "\n").write(
            toFile: file, atomically: true, encoding: .utf8)
        let events = try WriterKillCampaignTests().eventCount(source)
        let data = scratch.at("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
        chmod(data, 0o700)
        try FileManager.default.copyItem(atPath: source + "/kek", toPath: data + "/kek")

        let killed = try authctlKilled(at: "rename", when: 2, ["--data", data, "import", file])
        #expect(killed.status != 0)
        #expect(FileManager.default.fileExists(atPath: data + "/keys"))
        #expect(!FileManager.default.fileExists(atPath: data + "/data.mdb"))
        #expect(FileManager.default.fileExists(atPath: data + "/import.partial/data.mdb"))

        let server = try StartedAuthd(data: data)
        defer { server.stop() }
        #expect(server.port == 0 && server.status == 2, "\(server.output)")
        #expect(server.output.contains("run `authctl import` again"), "\(server.output)")
        #expect(!FileManager.default.fileExists(atPath: data + "/data.mdb"), "authd started an empty log")
        let verify = try runAuthctl(["--data", data, "verify"])
        #expect(verify.status == 2 && verify.stderr.contains("stopped while moving its files"), "\(verify.stderr)")

        let again = try runAuthctl(["--data", data, "import", file])
        #expect(again.stderr.contains("its log is now in place too"), "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: data + "/import.partial"))
        #expect(try runAuthctl(["--data", data, "verify"]).status == 0)
        #expect(try WriterKillCampaignTests().eventCount(data) == events)
        try await WriterKillCampaignTests().expectServes(data, round: 0)
    }

    /// Killed as it deletes the user's waiting mail (after the event and the key's
    /// destruction): erasing again reports success and leaves no mail with their address.
    @Test func anEraseKilledBeforeItsMailWentIsFinishedByErasingAgain() async throws {
        let scratch = try FaultScratch()
        let data = scratch.at("data")
        try WriterKillCampaignTests().prepare(data, users: 10, events: 100)
        let (id, email) = try #require(try await WriterKillCampaignTests().register(1, in: data).first)
        #expect(!filesContaining(Array(email.utf8), under: data + "/maildir").isEmpty, "no verification mail")

        let killed = try authctlKilled(at: "unlink", when: 1, ["--data", data, "erase", id])
        #expect(killed.status != 0)
        let trail = try runAuthctl(["--data", data, "history", id, "--json"])
        #expect(trail.stdout.contains("UserErased") && !trail.stdout.contains(email), "\(trail.stdout)")

        let again = try runAuthctl(["--data", data, "erase", id])
        #expect(again.status == 0 && again.stdout.contains("erased already"), "\(again.stderr)")
        #expect(
            filesContaining(Array(email.utf8), under: data).isEmpty,
            "\(filesContaining(Array(email.utf8), under: data))")
    }
}
