import Foundation
import TestSupport
import Testing

/// `authctl rotate-kek` on real data directories, checked with the real authd and authctl.
@Suite(.ownThreads) struct RotateKEKTests {
    /// A data directory with an admin, seeded users, three users registered through authd
    /// (passwords known) and the first of them erased: the ids and addresses of the other two,
    /// and the erased one's id.
    func prepare(_ data: String) async throws -> (kept: [(id: String, email: String)], erased: String) {
        let campaign = WriterKillCampaignTests()
        try campaign.prepare(data, users: 10, events: 60)
        let users = try await campaign.register(3, in: data)
        #expect(users.count == 3)
        let erase = try runAuthctl(["--data", data, "erase", users[0].id])
        #expect(erase.status == 0, "\(erase.stderr)")
        return (Array(users.dropFirst()), users[0].id)
    }

    func publicKey(_ data: String, _ environment: [String: String] = [:]) throws -> String {
        let head = try runAuthctl(["--data", data, "head"], environment)
        #expect(head.status == 0, "\(head.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(head.stdout.utf8)) as? [String: Any]
        return try #require(object?["public_key"] as? String)
    }

    func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// The 16 bytes of a UUID as the key store writes them.
    func idBytes(_ id: String) throws -> [UInt8] {
        let uuid = try #require(UUID(uuidString: id)).uuid
        return withUnsafeBytes(of: uuid) { Array($0) }
    }

    @Test func aRotatedStoreServesEveryUserUnderTheNewKeyAndKeepsTheLogsKey() async throws {
        let scratch = try FaultScratch()
        let data = scratch.at("data")
        let (kept, erased) = try await prepare(data)
        let keyBefore = try publicKey(data)
        let headFile = scratch.at("head.json")
        try runAuthctl(["--data", data, "head"]).stdout.write(toFile: headFile, atomically: true, encoding: .utf8)
        let exportFile = scratch.at("before.jsonl")
        try (try exportLines(data).joined(separator: "\n") + "\n").write(
            toFile: exportFile, atomically: true, encoding: .utf8)
        let oldKey = scratch.at("old-kek")
        try FileManager.default.copyItem(atPath: data + "/kek", toPath: oldKey)
        let oldText = try String(contentsOfFile: oldKey, encoding: .utf8).trimmingCharacters(in: .newlines)

        // The access-token signing keys authd made are sealed under a key the rotation keeps.
        let signingKeys = try #require(contents(data + "/signing-keys"))

        let rotated = try runAuthctl(["--data", data, "rotate-kek"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stdout.split(separator: "\n").count == 1)
        #expect(rotated.stdout.contains("re-wrapped 13 data keys"), "\(rotated.stdout)")
        #expect(rotated.stdout.contains("left out 1 erased slots"), "\(rotated.stdout)")
        let newText = try String(contentsOfFile: data + "/kek", encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(newText != oldText && newText.count == 43)
        for secret in [oldText, newText] { #expect(!(rotated.stdout + rotated.stderr).contains(secret)) }
        #expect(!FileManager.default.fileExists(atPath: data + "/kek.new"))
        #expect(!FileManager.default.fileExists(atPath: data + "/keys.rotating"))
        var mode = stat()
        #expect(stat(data + "/keys", &mode) == 0 && mode.st_mode & 0o777 == 0o600)
        #expect(stat(data + "/kek", &mode) == 0 && mode.st_mode & 0o777 == 0o600)

        // The log's key is the one auditors hold: the same public key, the kept head extended.
        #expect(try publicKey(data) == keyBefore)
        let verify = try runAuthctl(["--data", data, "verify", "--since-head", headFile])
        #expect(verify.status == 0 && verify.stdout.contains("intact and signed"), "\(verify.stderr)")

        // The old key no longer opens the store.
        let stale = try runAuthctl(
            ["--data", data, "users", "get", kept[0].id, "--json"], ["AUTHLOG_KEK_FILE": oldKey])
        #expect(stale.status == 2 && stale.stderr.contains("is not the one that wrapped"), "\(stale.stderr)")
        #expect(stale.stderr.split(separator: "\n").count == 1)

        // The erased user stays erased: no slot names them, no address comes back.
        let keys = try #require(contents(data + "/keys"))
        #expect(keys.range(of: Data(try idBytes(erased))) == nil)
        let gone = try runAuthctl(["--data", data, "users", "get", erased, "--json"])
        #expect(gone.stdout.contains("\"erased\":true") && !gone.stdout.contains("erasable0@"), "\(gone.stdout)")

        // authd with the new key opens the same signing keys (it would stop at start on a key
        // that did not open): every kept user logs in and reads their personal data.
        #expect(contents(data + "/signing-keys") == signingKeys, "the rotation leaves signing-keys as it was")
        let server = try StartedAuthd(data: data)
        defer { server.stop() }
        #expect(server.port != 0, "\(server.output)")
        let client = CampaignClient(port: server.port, ledger: Ledger())
        for (number, user) in kept.enumerated() {
            let login = try await client.post(
                "/v1/sessions", ["email": user.email, "password": "a long enough password \(number + 1)"])
            #expect(login.status == 200, "\(login.json)")
            let me = try await client.request(
                "GET", "/v1/users/\(user.id)", nil, token: login.json["access_token"] as? String)
            #expect(me.status == 200 && me.json["email"] as? String == user.email, "\(me.json)")
        }
        // New checkpoints are signed with the same key.
        let register = try await client.post(
            "/v1/users",
            ["email": "after@example.com", "password": "a long enough password", "first_name": "A", "last_name": "F"])
        #expect(register.status == 201)
        server.stop()
        let after = try runAuthctl(["--data", data, "verify", "--public-key", keyBefore, "--since-head", headFile])
        #expect(after.status == 0, "\(after.stderr)")

        // A backup made before stays importable with the old key, and verifies under the same key.
        let restored = scratch.at("restored")
        #expect(mkdir(restored, 0o700) == 0)
        let imported = try runAuthctl(["--data", restored, "import", exportFile], ["AUTHLOG_KEK_FILE": oldKey])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try publicKey(restored, ["AUTHLOG_KEK_FILE": oldKey]) == keyBefore)
        // A backup made after imports with the new key and keeps the log's key.
        let copy = scratch.at("copy")
        #expect(mkdir(copy, 0o700) == 0)
        try FileManager.default.copyItem(atPath: data + "/kek", toPath: copy + "/kek")
        let afterFile = scratch.at("after.jsonl")
        try (try exportLines(data).joined(separator: "\n") + "\n").write(
            toFile: afterFile, atomically: true, encoding: .utf8)
        let reimported = try runAuthctl(["--data", copy, "import", afterFile])
        #expect(reimported.status == 0, "\(reimported.stderr)")
        #expect(try publicKey(copy) == keyBefore)
    }

    @Test func aMissingOrBadNewKeyFailsInOneLineAndChangesNothing() async throws {
        let scratch = try FaultScratch()
        let data = scratch.at("data")
        try WriterKillCampaignTests().prepare(data, users: 5, events: 20)
        let keys = contents(data + "/keys")
        let kek = contents(data + "/kek")
        let malformed = scratch.at("malformed")
        #expect(FileManager.default.createFile(atPath: malformed, contents: Data("not a key\n".utf8)))
        chmod(malformed, 0o600)
        let loose = scratch.at("loose")
        #expect(
            FileManager.default.createFile(
                atPath: loose, contents: Data((String(repeating: "ab", count: 32) + "\n").utf8)))
        chmod(loose, 0o644)
        let fresh = scratch.at("fresh")
        #expect(
            FileManager.default.createFile(
                atPath: fresh, contents: Data((String(repeating: "5a", count: 32) + "\n").utf8),
                attributes: [.posixPermissions: 0o600]))
        let outside = scratch.at("outside-kek")
        try FileManager.default.copyItem(atPath: data + "/kek", toPath: outside)
        let cases: [([String], [String: String], String)] = [
            (["--new-kek-file", scratch.at("missing")], [:], "cannot read"),
            (["--new-kek-file", malformed], [:], "not 32 bytes"),
            (["--new-kek-file", loose], [:], "can be read or written by others"),
            // The old key given is not the store's.
            (["--new-kek-file", fresh], ["AUTHLOG_KEK": String(repeating: "cd", count: 32)], "not the one"),
            ([], ["AUTHLOG_KEK_FILE": outside], "--new-kek-file"),
        ]
        for (arguments, environment, message) in cases {
            let refused = try runAuthctl(["--data", data, "rotate-kek"] + arguments, environment)
            #expect(refused.status == 2, "\(arguments): \(refused.stdout)")
            #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
            #expect(refused.stderr.contains(message), "\(arguments): \(refused.stderr)")
            #expect(contents(data + "/keys") == keys && contents(data + "/kek") == kek)
            #expect(!FileManager.default.fileExists(atPath: data + "/kek.new"))
        }
        #expect(try runAuthctl(["--data", data, "verify"]).status == 0)
    }

    @Test func aRotationIsRefusedWhileAuthdHoldsTheStore() async throws {
        let scratch = try FaultScratch()
        let data = scratch.at("data")
        try WriterKillCampaignTests().prepare(data, users: 5, events: 20)
        let keys = contents(data + "/keys")
        let kek = contents(data + "/kek")
        let server = try StartedAuthd(data: data)
        #expect(server.port != 0, "\(server.output)")
        let refused = try runAuthctl(["--data", data, "rotate-kek"])
        #expect(refused.status == 2 && refused.stderr.contains("is in use"), "\(refused.stderr)")
        #expect(contents(data + "/keys") == keys && contents(data + "/kek") == kek)
        server.stop()
        let rotated = try runAuthctl(["--data", data, "rotate-kek"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        try await WriterKillCampaignTests().expectServes(data, round: 0)
    }

    /// Rotating a store whose key comes from outside the directory: the new key file is given,
    /// the directory keeps no key, and running it again with the same file changes nothing.
    @Test func aKeyFromOutsideIsReplacedByTheGivenFile() async throws {
        let scratch = try FaultScratch()
        let data = scratch.at("data")
        try WriterKillCampaignTests().prepare(data, users: 5, events: 20)
        let keyBefore = try publicKey(data)
        let old = scratch.at("kek.1")
        try FileManager.default.moveItem(atPath: data + "/kek", toPath: old)
        let new = scratch.at("kek.2")
        #expect(
            FileManager.default.createFile(
                atPath: new, contents: Data((String(repeating: "5a", count: 32) + "\n").utf8),
                attributes: [.posixPermissions: 0o600]))
        let rotated = try runAuthctl(
            ["--data", data, "rotate-kek", "--new-kek-file", new], ["AUTHLOG_KEK_FILE": old])
        #expect(rotated.status == 0 && rotated.stdout.contains("set AUTHLOG_KEK_FILE to \(new)"), "\(rotated.stdout)")
        #expect(!FileManager.default.fileExists(atPath: data + "/kek"))
        let again = try runAuthctl(["--data", data, "rotate-kek", "--new-kek-file", new], ["AUTHLOG_KEK_FILE": old])
        #expect(again.status == 0 && again.stdout.contains("nothing was changed"), "\(again.stdout)")
        #expect(try publicKey(data, ["AUTHLOG_KEK_FILE": new]) == keyBefore)
        #expect(try runAuthctl(["--data", data, "verify"], ["AUTHLOG_KEK_FILE": new]).status == 0)
        #expect(try runAuthctl(["--data", data, "verify"], ["AUTHLOG_KEK_FILE": old]).status == 2)
    }
}

/// rotate-kek killed at the exact rename (strace fault injection, as InterruptedWriterTests).
@Suite(
    .ownThreads,
    .enabled(if: SecretFileTests.strace != nil, "needs strace (and ptrace) to kill at a chosen system call"))
struct InterruptedRotationTests {
    /// Killed before its new store is in place (as it clears a stale `keys.rotating`, its
    /// first unlink, or at its first rename): the old store and old key still serve; running it
    /// again starts over and finishes.
    @Test(arguments: ["unlink", "rename"])
    func aRotationKilledBeforeItsStoreMovedLeavesTheOldOne(at syscall: String) async throws {
        let scratch = try FaultScratch()
        let data = scratch.at("data")
        try WriterKillCampaignTests().prepare(data, users: 10, events: 60)
        let keys = contents(data + "/keys")
        let kek = contents(data + "/kek")
        let key = try RotateKEKTests().publicKey(data)

        let killed = try InterruptedWriterTests().authctlKilled(at: syscall, when: 1, ["--data", data, "rotate-kek"])
        #expect(killed.status != 0)
        #expect(contents(data + "/keys") == keys && contents(data + "/kek") == kek)
        #expect(try runAuthctl(["--data", data, "verify"]).status == 0)
        try await WriterKillCampaignTests().expectServes(data, round: 0)

        let again = try runAuthctl(["--data", data, "rotate-kek"])
        #expect(again.status == 0 && again.stdout.contains("re-wrapped 11 data keys"), "\(again.stdout)")
        #expect(contents(data + "/kek") != kek && !FileManager.default.fileExists(atPath: data + "/kek.new"))
        #expect(try RotateKEKTests().publicKey(data) == key)
        try await WriterKillCampaignTests().expectServes(data, round: 1)
    }

    /// Killed after its new store is in place, before the new key replaced the old (second
    /// rename): nothing opens with the zeroed old key, the message says to run it again, and
    /// running it again moves the new key into place.
    @Test func aRotationKilledBeforeItsKeyMovedIsFinishedByRunningItAgain() async throws {
        let scratch = try FaultScratch()
        let data = scratch.at("data")
        try WriterKillCampaignTests().prepare(data, users: 10, events: 60)
        let kek = contents(data + "/kek")
        let key = try RotateKEKTests().publicKey(data)

        let killed = try InterruptedWriterTests().authctlKilled(at: "rename", when: 2, ["--data", data, "rotate-kek"])
        #expect(killed.status != 0)
        #expect(FileManager.default.fileExists(atPath: data + "/kek.new"))
        #expect(contents(data + "/kek") != kek, "the old key was not overwritten")
        let server = try StartedAuthd(data: data)
        server.stop()
        #expect(server.status == 2 && server.output.contains("run `authctl rotate-kek` again"), "\(server.output)")

        let again = try runAuthctl(["--data", data, "rotate-kek"])
        #expect(again.status == 0 && again.stdout.contains("finished an interrupted rotation"), "\(again.stdout)")
        #expect(!FileManager.default.fileExists(atPath: data + "/kek.new"))
        #expect(try RotateKEKTests().publicKey(data) == key)
        #expect(try runAuthctl(["--data", data, "verify"]).status == 0)
        try await WriterKillCampaignTests().expectServes(data, round: 0)
    }

    func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }
}
