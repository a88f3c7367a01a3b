import DataProtection
import Foundation
import KeyStorePostgres
import PostgresTestSupport
import TestSupport
import Testing

/// `authctl --log-url URL rotate-kek --new-kek-file F`, run as the built binary against a
/// database of its own.
@Suite(.ownThreads, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct RotateKEKCommandTests {
    /// A directory for key files, removed afterwards.
    final class KeyFiles {
        let path = NSTemporaryDirectory() + "authlog-kek-" + UUID().uuidString
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        func write(_ key: KeyEncryptionKey, as name: String) -> String {
            let file = path + "/" + name
            #expect(
                FileManager.default.createFile(
                    atPath: file, contents: Data((key.text + "\n").utf8), attributes: [.posixPermissions: 0o600]))
            return file
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    func authctl(_ arguments: [String], _ environment: [String: String]) throws -> ProcessOutput {
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        return try runProcess(builtProduct("authctl"), arguments, environment: inherited.merging(environment) { $1 })
    }

    @Test func rotateKEKWithALogURLRewrapsTheDatabasesKeys() throws {
        let database = try TestDatabase()
        let files = try KeyFiles()
        let old = try KeyEncryptionKey.generate()
        let new = try KeyEncryptionKey.generate()
        let (oldFile, newFile) = (files.write(old, as: "old"), files.write(new, as: "new"))
        let users = (0..<3).map { _ in UUID() }
        let keys: [[UInt8]]
        let logKey: [UInt8]?
        do {
            let store = try PostgresKeyStore(url: database.url, kek: old)
            keys = try store.createDataKeys(for: users)
            logKey = store.logSigningKey?.publicKey
            _ = try store.accessTokenSigningKeys()
        }
        let data = files.path + "/data"  // never created: the keys are in the database

        let missingNew = try authctl(
            ["--data", data, "--log-url", database.url, "rotate-kek"], ["AUTHLOG_KEK_FILE": oldFile])
        #expect(missingNew.status == 2)
        #expect(missingNew.stderr.contains("--new-kek-file"))
        let missingOld = try authctl(
            ["--data", data, "--log-url", database.url, "rotate-kek", "--new-kek-file", newFile], [:])
        #expect(missingOld.status == 2)
        #expect(missingOld.stderr.contains("AUTHLOG_KEK"))
        let wrongOld = try authctl(
            ["--data", data, "--log-url", database.url, "rotate-kek", "--new-kek-file", newFile],
            ["AUTHLOG_KEK": try KeyEncryptionKey.generate().text])
        #expect(wrongOld.status == 2)
        #expect(wrongOld.stderr.split(separator: "\n").count == 1)
        #expect(try PostgresKeyStore(url: database.url, kek: old).dataKey(for: users[0]) == keys[0])  // unchanged

        let rotated = try authctl(
            ["--data", data, "--log-url", database.url, "rotate-kek", "--new-kek-file", newFile],
            ["AUTHLOG_KEK_FILE": oldFile])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stdout.contains("re-wrapped 3 data keys"))
        #expect(!rotated.stdout.contains(new.text) && !rotated.stderr.contains(new.text))
        #expect(throws: DataProtectionError.self) { try PostgresKeyStore(url: database.url, kek: old) }
        let store = try PostgresKeyStore(url: database.url, kek: new)
        for (user, key) in zip(users, keys) { #expect(try store.dataKey(for: user) == key) }
        #expect(store.logSigningKey?.publicKey == logKey)
        #expect(!FileManager.default.fileExists(atPath: data))

        let again = try authctl(
            ["--log-url", database.url, "rotate-kek", "--new-kek-file", newFile], ["AUTHLOG_KEK_FILE": oldFile])
        #expect(again.status == 0)
        #expect(again.stdout.contains("already"))
    }
}
