import DataProtection
import Foundation
import TestSupport
import Testing

/// ``SecretFile/replace(_:contents:)``: the new contents, owner-only, all at once.
@Suite(.ownThreads) struct SecretFileReplaceTests {
    /// A new directory (0700) for one test, removed after `body`.
    func inDirectory(_ body: (String) throws -> Void) throws {
        let directory = NSTemporaryDirectory() + "secret-replace-" + UUID().uuidString
        try SecretFile.makeDirectory(directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    /// An existing file, 0644 here, is replaced by one with the new contents, 0600; nothing
    /// else is left beside it.
    @Test func aReplacedFileHoldsTheNewContentsOwnerOnly() throws {
        try inDirectory { directory in
            let path = directory + "/list"
            #expect(
                FileManager.default.createFile(
                    atPath: path, contents: Data("old".utf8), attributes: [.posixPermissions: 0o644]))
            try SecretFile.replace(path, contents: Array("new".utf8))
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "new")
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["list"])
        }
    }

    /// A replace that cannot rename over the path (a directory has its name) throws, and
    /// leaves the path as it was and no temporary file behind.
    @Test func aReplaceThatFailsLeavesThePathAndNoTemporaryFile() throws {
        try inDirectory { directory in
            let path = directory + "/list"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            #expect(throws: DataProtectionError.self) { try SecretFile.replace(path, contents: Array("new".utf8)) }
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["list"])
        }
    }
}
