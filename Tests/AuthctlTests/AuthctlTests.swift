import Foundation
import TestSupport
import Testing

@Suite(.ownThreads) struct AuthctlTests {
    /// A seeded, projected data directory with one erased user.
    func seeded(_ scratch: Scratch) throws -> String {
        let data = scratch.at("data")
        #expect(try authctl(["--data", data, "seed", "--users", "40", "--events", "300"]).status == 0)
        #expect(try authctl(["--data", data, "rebuild"]).status == 0)
        let erased = try authctl(["--data", data, "erase", "seed7@example.com"])
        #expect(erased.status == 0, "\(erased.stderr)")
        return data
    }

    /// A data directory named by one character, relative to the working directory, and one
    /// named with a trailing slash are created 0700 and used (Foundation's path splitting traps
    /// on the first; the second once had its parent taken for itself).
    @Test(arguments: ["d", "e/"])
    func aShortOrSlashEndedDataDirectoryIsCreatedPrivateAndUsed(name: String) throws {
        let scratch = try Scratch()
        let created = try authctl(["--data", name, "seed", "--users", "3", "--events", "10"], directory: scratch.path)
        #expect(created.status == 0, "\(created.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: scratch.at(name))[.posixPermissions] as? Int
        #expect(mode == 0o700)
        #expect(try authctl(["--data", name, "rebuild"], directory: scratch.path).status == 0)
        let stats = try authctl(["--data", name, "stats"], directory: scratch.path)
        #expect(stats.status == 0 && stats.stdout.contains("events          10\n"), "\(stats.stdout)\(stats.stderr)")
    }

    @Test func exportImportExportGivesIdenticalBytesAndTheSameUsers() throws {
        let scratch = try Scratch()
        let source = try seeded(scratch)
        let kek = ["AUTHLOG_KEK_FILE": source + "/kek"]
        let first = try authctl(["--data", source, "export"])
        #expect(first.status == 0)
        try first.stdout.write(toFile: scratch.at("backup.jsonl"), atomically: true, encoding: .utf8)
        let target = scratch.at("restored")
        let imported = try authctl(["--data", target, "import", scratch.at("backup.jsonl")], environment: kek)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("chain verified"))
        let second = try authctl(["--data", target, "export"], environment: kek)
        #expect(second.stdout == first.stdout)
        #expect(try authctl(["--data", target, "verify"], environment: kek).status == 0)
        for user in ["seed1@example.com", "seed20@example.com", "seed39@example.com"] {
            let here = try authctl(["--data", source, "users", "get", user, "--json"])
            let there = try authctl(["--data", target, "users", "get", user, "--json"], environment: kek)
            #expect(here.status == 0 && here.stdout == there.stdout)
        }
        // The erased user stays erased: gone by email, personal fields empty by id.
        let byEmail = try authctl(["--data", target, "users", "get", "seed7@example.com"], environment: kek)
        #expect(byEmail.status == 2 && byEmail.stderr == "authctl: no user seed7@example.com\n")
        let stats = json(
            Substring(try authctl(["--data", target, "stats", "--json"], environment: kek).stdout.dropLast()))
        #expect((stats["events"] as? Int) == (json(Substring(first.stdout.split(separator: "\n")[0]))["to"] as? Int))
    }

    @Test func importRefusesBrokenForeignAndUnkeyedFilesWithTheLine() throws {
        let scratch = try Scratch()
        let source = try seeded(scratch)
        let kek = ["AUTHLOG_KEK_FILE": source + "/kek"]
        var lines = try authctl(["--data", source, "export"]).stdout.split(separator: "\n").map(String.init)
        let eventLine = lines.firstIndex { $0.contains("\"kind\":\"event\"") }! + 5
        lines[eventLine] = lines[eventLine].replacingOccurrences(of: "\"hash\":\"", with: "\"hash\":\"00")
            .replacingOccurrences(of: #"("hash":"00[0-9a-f]{62})[0-9a-f]{2}"#, with: "$1", options: .regularExpression)
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: scratch.at("broken.jsonl"), atomically: true, encoding: .utf8)
        let broken = try authctl(["--data", scratch.at("b"), "import", scratch.at("broken.jsonl")], environment: kek)
        #expect(broken.status == 2)
        #expect(broken.stderr.contains("line \(eventLine + 1):"), "\(broken.stderr)")
        #expect(broken.stderr.split(separator: "\n").count == 1)

        try "hello\nworld\n".write(toFile: scratch.at("foreign.txt"), atomically: true, encoding: .utf8)
        let foreign = try authctl(["--data", scratch.at("f"), "import", scratch.at("foreign.txt")], environment: kek)
        #expect(foreign.status == 2 && foreign.stderr.contains("line 1: not an Authlog export"))

        let unkeyed = try authctl(["--data", scratch.at("u"), "import", scratch.at("broken.jsonl")])
        #expect(unkeyed.status == 2 && unkeyed.stderr.contains("no key-encryption key"))

        let readable = try authctl(["--data", source, "export", "--readable"])
        #expect(readable.status == 0 && readable.stdout.contains("\"event\":{"))
        try readable.stdout.write(toFile: scratch.at("readable.jsonl"), atomically: true, encoding: .utf8)
        let refused = try authctl(
            ["--data", scratch.at("r"), "import", scratch.at("readable.jsonl")], environment: kek)
        #expect(refused.status == 2 && refused.stderr.contains("cannot be imported"))

        let full = try authctl(["--data", source, "import", scratch.at("broken.jsonl")])
        #expect(full.status == 2 && full.stderr.contains("import needs an empty data directory"))
    }

    @Test func historyAsOfUsersAndStatsShowTheProjectedState() throws {
        let scratch = try Scratch()
        let data = try seeded(scratch)
        let history = try authctl(["--data", data, "history", "seed3@example.com", "--json"])
        #expect(history.status == 0)
        let entries = history.stdout.split(separator: "\n").map(json)
        #expect(entries.first?["type"] as? String == "UserRegistered")
        #expect((entries.first?["changes"] as? [String: String])?["email"] == "seed3@example.com")
        #expect(!history.stdout.contains("$argon2id"))
        let first = try #require(entries.first?["position"] as? Int)
        let then = try authctl(["--data", data, "as-of", "seed3@example.com", String(first), "--json"])
        #expect(json(Substring(then.stdout.dropLast()))["stream_version"] as? Int == 1)
        let bad = try authctl(["--data", data, "as-of", "seed3@example.com", "last tuesday"])
        #expect(bad.status == 64 && bad.stderr.hasPrefix("authctl: 'last tuesday' is neither"))

        let erasedTrail = try authctl(["--data", data, "history", "seed7@example.com"])
        #expect(erasedTrail.status == 2)  // no longer found by email: erased

        let list = try authctl(["--data", data, "users", "list", "--role", "target", "--limit", "5", "--json"])
        let rows = list.stdout.split(separator: "\n").map(json)
        #expect(rows.count == 6 && rows.last?["next_cursor"] != nil)
        #expect(rows.dropLast().allSatisfy { $0["role"] as? String == "TARGET" && $0["password_hash"] == nil })
        let unknownRole = try authctl(["--data", data, "users", "list", "--role", "OWNER"])
        #expect(unknownRole.status == 64)

        let stats = json(Substring(try authctl(["--data", data, "stats", "--json"]).stdout.dropLast()))
        let byRole = try #require(stats["users_by_role"] as? [String: Int])
        #expect(byRole.values.reduce(0, +) + (stats["deleted_users"] as? Int ?? 0) == 40)
        #expect((stats["projections"] as? [String: [String: Int]])?["users"]?["checkpoint"] == stats["events"] as? Int)
    }

    @Test func createAdminReadsThePasswordFromStdinAndOnlyBootstraps() throws {
        let scratch = try Scratch()
        let data = scratch.at("data")
        let made = try authctl(
            ["--data", data, "create-admin", "--email", "root@example.com"], input: "a long admin passphrase\n")
        #expect(made.status == 0, "\(made.stderr)")
        let admin = json(
            Substring(try authctl(["--data", data, "users", "get", "root@example.com", "--json"]).stdout.dropLast()))
        #expect(admin["role"] as? String == "ADMIN")
        let again = try authctl(
            ["--data", data, "create-admin", "--email", "two@example.com"], input: "another admin passphrase\n")
        #expect(again.status == 2 && again.stderr.contains("an ADMIN exists already"))
        let weak = try authctl(
            ["--data", scratch.at("other"), "create-admin", "--email", "x@example.com"], input: "short\n")
        #expect(weak.status == 2 && weak.stderr.contains("password refused"))
    }

    @Test(arguments: ["missing", "empty", "foreign", "garbage", "cut short"])
    func everyReadCommandFailsInOneLineOnAnUnusableDirectory(kind: String) throws {
        let scratch = try Scratch()
        let data = scratch.at(kind)
        switch kind {
        case "cut short":
            // A log of 2,000 events whose data.mdb lost its second half (before the check
            // at opening, every command died of SIGBUS).
            let seeded = try authctl(["--data", data, "seed", "--users", "100", "--events", "2000"])
            #expect(seeded.status == 0, "\(seeded.stderr)")
            let file = FileHandle(forWritingAtPath: data + "/data.mdb")!
            try file.truncate(atOffset: try file.seekToEnd() / 2)
            try file.close()
        case "empty": try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        case "foreign":
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: data + "/data.mdb", contents: Data(count: 0)))
        case "garbage":
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            #expect(
                FileManager.default.createFile(
                    atPath: data + "/data.mdb", contents: Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
                ))
        default: break
        }
        for command in [
            ["verify"], ["stats"], ["history", "a@b.co"], ["users", "get", "a@b.co"], ["export"],
            ["as-of", "a@b.co", "1"],
        ] {
            let result = try authctl(["--data", data] + command)
            #expect(result.status == 2, "\(command) on \(kind): \(result.status) \(result.stderr)")
            if kind == "cut short" { #expect(result.stderr.contains("data.mdb was cut short"), "\(result.stderr)") }
            if kind == "foreign" { #expect(result.stderr.contains("data.mdb is empty"), "\(result.stderr)") }
            #expect(
                result.stderr.hasPrefix("authctl: ") && result.stderr.split(separator: "\n").count == 1,
                "\(command): \(result.stderr)")
        }
    }

    @Test func everyCommandHasHelpWithAnExample() throws {
        for command in [
            ["init"], ["stats"], ["verify"], ["head"], ["sign-head"], ["history"], ["as-of"], ["users", "get"],
            ["users", "list"], ["rebuild"],
            ["export"], ["import"], ["create-admin"], ["seed"], ["erase"],
        ] {
            let help = try authctl(command + ["--help"])
            #expect(help.status == 0 && help.stdout.contains("Example:"), "\(command) --help")
        }
    }
}

/// Backups against erasure: the key lines of an export are not signed, so an older backup's
/// key for a user must not bring them back.
@Suite(.ownThreads) struct ErasedKeyImportTests {
    @Test func anOlderBackupsKeyForAnErasedUserIsRefused() throws {
        let scratch = try Scratch()
        let data = scratch.at("data")
        #expect(try authctl(["--data", data, "seed", "--users", "5", "--events", "20"]).status == 0)
        #expect(try authctl(["--data", data, "rebuild"]).status == 0)
        let user = json(Substring(try authctl(["--data", data, "users", "get", "seed1@example.com", "--json"]).stdout))
        let id = try #require(user["id"] as? String)
        let old = try authctl(["--data", data, "export"]).stdout.split(separator: "\n")
        let oldKey = try #require(old.first { $0.contains("\"kind\":\"data_key\"") && $0.contains(id) })
        #expect(try authctl(["--data", data, "erase", id]).status == 0)
        var new = try authctl(["--data", data, "export"]).stdout.split(separator: "\n")
        #expect(!new.contains { $0.contains("\"kind\":\"data_key\"") && $0.contains(id) })
        new.insert(oldKey, at: 1)
        try (new.joined(separator: "\n") + "\n").write(
            toFile: scratch.at("spliced.jsonl"), atomically: true, encoding: .utf8)
        let imported = try authctl(
            ["--data", scratch.at("restored"), "import", scratch.at("spliced.jsonl")],
            environment: ["AUTHLOG_KEK_FILE": data + "/kek"])
        #expect(imported.status == 2)
        #expect(imported.stderr.contains("line 2:") && imported.stderr.contains("erases"), "\(imported.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.at("restored") + "/data.mdb"))
    }
}

/// An erase killed between its event and the key's destruction is finished by running it again.
@Suite(.ownThreads) struct InterruptedEraseTests {
    @Test func erasingAgainDestroysTheKeyAKilledEraseLeft() throws {
        let scratch = try Scratch()
        let data = scratch.at("data")
        #expect(try authctl(["--data", data, "seed", "--users", "5", "--events", "20"]).status == 0)
        #expect(try authctl(["--data", data, "rebuild"]).status == 0)
        let user = json(Substring(try authctl(["--data", data, "users", "get", "seed2@example.com", "--json"]).stdout))
        let id = try #require(user["id"] as? String)
        let slot = try #require(
            try authctl(["--data", data, "export"]).stdout.split(separator: "\n").first {
                $0.contains("\"kind\":\"data_key\"") && $0.contains(id)
            })
        // The erase ran, then the process died before the key went: put the slot back.
        #expect(try authctl(["--data", data, "erase", id]).status == 0)
        let keysFile = data + "/keys"
        var keys = try #require(FileManager.default.contents(atPath: keysFile))
        let wrapped = try #require(json(slot)["slot"] as? String)
        let bytes = stride(from: 0, to: wrapped.count, by: 2).map { offset -> UInt8 in
            let start = wrapped.index(wrapped.startIndex, offsetBy: offset)
            return UInt8(wrapped[start..<wrapped.index(start, offsetBy: 2)], radix: 16)!
        }
        keys.append(contentsOf: bytes)
        try keys.write(to: URL(fileURLWithPath: keysFile))
        let left = try authctl(["--data", data, "history", id, "--json"])
        #expect(left.stdout.contains("seed2@example.com"), "the slot put back should open: \(left.stderr)")
        let again = try authctl(["--data", data, "erase", id])
        #expect(again.status == 0 && again.stdout.contains("erased already"), "\(again.stderr)")
        let trail = try authctl(["--data", data, "history", id, "--json"])
        #expect(trail.status == 0 && !trail.stdout.contains("seed2@example.com"), "\(trail.stdout)")
    }
}
