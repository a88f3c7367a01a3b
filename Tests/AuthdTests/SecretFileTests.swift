import Foundation
import TestSupport
import Testing

/// Secret files are owner-only from their first byte; a data directory others can write is
/// tightened or refused. Checked on what real authd and authctl leave behind.
@Suite struct SecretFileTests {
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
        rotate.waitUntilExit()
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
}
