import Foundation
import TestSupport
import Testing

/// Secret files are owner-only from their first byte; a data directory others can write is
/// tightened or refused. Checked on what real authd and authctl leave behind.
@Suite(.ownThreads) struct SecretFileTests {
    /// A key-encryption key file others can read: the data directory's own is tightened, one
    /// named by AUTHLOG_KEK_FILE is refused.
    @Test func aLooseKEKFileIsTightenedOrRefused() throws {
        let data = NSTemporaryDirectory() + "authd-kek-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let created = try runAuthctl(
            ["--data", data, "create-admin", "--email", "root@example.com"], input: "an admin passphrase\n")
        #expect(created.status == 0, "\(created.stderr)")
        #expect(chmod(data + "/kek", 0o644) == 0)
        #expect(try runAuthctl(["--data", data, "users", "get", "root@example.com"]).status == 0)
        #expect(permissions(of: data + "/kek") == 0o600)
        let outside = data + "-kek"
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.copyItem(atPath: data + "/kek", toPath: outside)
        #expect(chmod(outside, 0o644) == 0)
        let refused = try runAuthctl(
            ["--data", data, "users", "get", "root@example.com"], ["AUTHLOG_KEK_FILE": outside])
        #expect(refused.status == 2 && refused.stderr.contains("can be read or written by others"), "\(refused.stderr)")
    }

    /// A key-encryption key file another user owns is refused, however tight its mode (its
    /// owner chose the key, or can replace it); in the data directory too, where a loose
    /// mode would be tightened. Run as root, which alone can give a file away.
    @Test(.enabled(if: geteuid() == 0)) func aKEKFileAnotherUserOwnsIsRefused() throws {
        let data = NSTemporaryDirectory() + "authd-kek-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let created = try runAuthctl(
            ["--data", data, "create-admin", "--email", "root@example.com"], input: "an admin passphrase\n")
        #expect(created.status == 0, "\(created.stderr)")
        let outside = data + "-kek"
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.copyItem(atPath: data + "/kek", toPath: outside)
        #expect(chmod(outside, 0o600) == 0 && chown(outside, 65_534, 65_534) == 0)
        let refused = try runAuthctl(
            ["--data", data, "users", "get", "root@example.com"], ["AUTHLOG_KEK_FILE": outside])
        #expect(refused.status == 2 && refused.stderr.contains("belongs to another user"), "\(refused.stderr)")
        #expect(chown(data + "/kek", 65_534, 65_534) == 0)
        let inside = try runAuthctl(["--data", data, "users", "get", "root@example.com"])
        #expect(inside.status == 2 && inside.stderr.contains("belongs to another user"), "\(inside.stderr)")
        // Given back, it is taken again.
        #expect(chown(data + "/kek", geteuid(), getegid()) == 0)
        #expect(try runAuthctl(["--data", data, "users", "get", "root@example.com"]).status == 0)
    }

    /// The data directory others could write is tightened by authd (it owns it) and refused
    /// when it belongs to someone else; every secret file ends up 0600, an existing signing-key
    /// file with a loose mode included.
    @Test func secretFilesAreOwnerOnlyAndAnOpenDataDirectoryIsTightenedOrRefused() async throws {
        let server = try RunningServer { data throws in
            #expect(chmod(data, 0o777) == 0)
        }
        #expect(permissions(of: server.data) == 0o700)
        #expect(
            try await server.call(
                "POST", "/v1/users",
                json: [
                    "email": "modes@example.com", "password": "correct horse battery", "first_name": "M",
                    "last_name": "O",
                ]
            ).status == 201)
        for file in ["kek", "keys", "signing-keys", "data.mdb"] {
            #expect(permissions(of: server.data + "/" + file) == 0o600, "\(file)")
        }
        for folder in ["maildir", "maildir/new", "maildir/tmp", "maildir/cur"] {
            #expect(permissions(of: server.data + "/" + folder) == 0o700, "\(folder)")
        }
        let mail = try FileManager.default.contentsOfDirectory(atPath: server.data + "/maildir/new")
        #expect(!mail.isEmpty && mail.allSatisfy { permissions(of: server.data + "/maildir/new/" + $0) == 0o600 })

        let loose = NSTemporaryDirectory() + "authd-modes-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: loose) }
        try FileManager.default.createDirectory(atPath: loose, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: loose + "/signing-keys", contents: Data()))
        #expect(chmod(loose + "/signing-keys", 0o644) == 0)
        let rotate = productProcess("authd", ["--data", loose, "--rotate-signing-key"])
        try rotate.run()
        rotate.waitForExit()
        #expect(rotate.terminationStatus == 0 && permissions(of: loose + "/signing-keys") == 0o600)

        // Someone else's directory that anyone can write: refused, not used.
        let foreign = NSTemporaryDirectory() + "authd-foreign-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: foreign) }
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        #expect(chmod(foreign, 0o777) == 0)
        if geteuid() == 0 { #expect(chown(foreign, 65_534, 65_534) == 0) }
        let refused = try authctlResult(
            ["--data", foreign, "create-admin", "--email", "x@example.com"],
            input: ErasureBesideAuthdTests.adminPassword + "\n")
        if geteuid() == 0 {
            #expect(refused.status == 2 && refused.stderr.contains("writable by others"), "\(refused.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: foreign).isEmpty)
        }
        // A read-only command tightens nothing: it refuses a directory its group can write.
        #expect(chmod(loose, 0o770) == 0)
        let read = try authctlResult(["--data", loose, "history", "x@example.com"])
        #expect(read.status == 2 && read.stderr.contains("writable by others"), "\(read.stderr)")
        #expect(permissions(of: loose) == 0o770)
    }

    /// strace, if it is installed and may trace here (containers often forbid ptrace).
    static let strace: String? = ["/usr/bin/strace", "/bin/strace"].first { path in
        guard FileManager.default.isExecutableFile(atPath: path),
            let probe = try? runProcess(URL(fileURLWithPath: path), ["-o", "/dev/null", "/bin/true"])
        else { return false }
        return probe.status == 0
    }

    /// Every call that gives a file or directory under the data directory a mode (open with
    /// O_CREAT, mkdir, chmod, fchmod), traced in real authctl and authd: none may give group or
    /// others any bit, not even for the moment before a chmod.
    @Test(.enabled(if: strace != nil, "needs strace (and ptrace) to see the mode each file is created with"))
    func everySecretFileIsOwnerOnlyFromItsFirstByte() throws {
        let strace = try #require(Self.strace)
        let data = NSTemporaryDirectory() + "authd-trace-" + UUID().uuidString
        let trace = data + ".trace"
        defer {
            try? FileManager.default.removeItem(atPath: data)
            try? FileManager.default.removeItem(atPath: trace)
        }
        let calls = "trace=open,openat,creat,mkdir,mkdirat,chmod,fchmod,fchmodat"
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        var traced = ""
        for (product, arguments, input) in [
            ("authctl", ["--data", data, "create-admin", "--email", "root@example.com"], "an admin passphrase\n"),
            ("authd", ["--data", data, "--rotate-signing-key"], nil),
        ] {
            let run = try runProcess(
                URL(fileURLWithPath: strace),
                ["-f", "-y", "-e", calls, "-o", trace, products().appendingPathComponent(product).path] + arguments,
                environment: environment, input: input)
            #expect(run.status == 0, "\(product): \(run.stderr)")
            traced += try String(contentsOfFile: trace, encoding: .utf8)
        }
        for file in ["kek", "keys", "signing-keys", "data.mdb"] {
            #expect(FileManager.default.fileExists(atPath: data + "/" + file), "\(file) was not made")
        }
        let modeCall = try Regex(#"(open|openat|creat|mkdir|mkdirat|chmod|fchmod|fchmodat)\(.*, (0[0-7]+)\)\s+="#)
        var checked = 0
        for line in traced.split(separator: "\n") where line.contains(data) {
            guard let match = line.firstMatch(of: modeCall), let text = match.output[2].substring,
                let mode = Int(text, radix: 8)
            else { continue }
            checked += 1
            #expect(mode & 0o077 == 0, "created or changed with group or other bits: \(line)")
        }
        #expect(checked >= 6, "too few calls traced: \(traced)")
    }
}
