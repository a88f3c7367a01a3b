import DataProtection
import Foundation
import TestSupport
import Testing

/// ``FileSealingKey``: its derivation, pinned, and what opens what.
@Suite(.ownThreads) struct FileSealingKeyTests {
    /// HMAC-SHA256(seed, "authlog file sealing key v1") for the seed 0, 1, ..., 31, as
    /// Python's hmac module computes it: a file store and the shared database's store derive
    /// the same key from the same log key, and a release that changed it would open no file.
    @Test func theDerivationIsPinned() throws {
        let key = FileSealingKey(logSigningSeed: Array(0..<32))
        #expect(
            key.bytes.map { String(format: "%02x", $0) }.joined()
                == "13778c83de4c5140dd21c518fbe6aa4c0cee1c934f61d786e3b48ed6b1c63116")
    }

    /// A secret opens under its key and place only.
    @Test func aSecretOpensForItsPlaceUnderItsKeyOnly() throws {
        let key = FileSealingKey(logSigningSeed: Array(0..<32))
        let sealed = try key.seal(Array("whsec_x".utf8), for: .webhookSecret("ep_1"))
        #expect(try key.open(sealed, for: .webhookSecret("ep_1")) == Array("whsec_x".utf8))
        #expect(throws: DataProtectionError.tampered) { try key.open(sealed, for: .webhookSecret("ep_2")) }
        #expect(throws: DataProtectionError.tampered) { try key.open(sealed, for: .accessTokenSigningKey("ep_1")) }
        let other = FileSealingKey(logSigningSeed: Array(1..<33))
        #expect(throws: DataProtectionError.tampered) { try other.open(sealed, for: .webhookSecret("ep_1")) }
    }

    /// The old file's bytes are zeros once it is replaced; a file with a second name (a
    /// hard-linked backup) is replaced but its bytes are left, and the answer says so; a file
    /// that is gone is not made again.
    @Test func theOldBytesAreZeroedUnlessTheFileHasOtherNames() throws {
        let directory = NSTemporaryDirectory() + "sealing-zero-" + UUID().uuidString
        try SecretFile.makeDirectory(directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/secret"
        try SecretFile.create(path, contents: Array("in the clear".utf8))
        let probe = open(path, O_RDONLY)
        defer { close(probe) }
        #expect(try SecretFile.replaceOverwritingOld(path, contents: Array("sealed".utf8)) == nil)
        var old = [UInt8](repeating: 1, count: 12)
        #expect(pread(probe, &old, 12, 0) == 12 && old.allSatisfy { $0 == 0 })
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "sealed")

        let backup = directory + "/backup"
        #expect(link(path, backup) == 0)
        let reason = try SecretFile.replaceOverwritingOld(path, contents: Array("again".utf8))
        #expect(reason?.contains("hard links") == true, "\(reason ?? "nil")")
        #expect(try String(contentsOfFile: backup, encoding: .utf8) == "sealed")

        #expect(throws: DataProtectionError.self) {
            try SecretFile.replaceOverwritingOld(directory + "/gone", contents: Array("x".utf8))
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/gone"))
    }
}
