import Foundation
import LMDB
import TestSupport
import Testing

/// A head record rewritten in `data.mdb` by someone with the files but not the key, against
/// the real authctl: `verify` names it, and a writer refuses the log rather than sign events
/// with the forged time.
@Suite(.ownThreads) struct ForgedHeadTests {
    @Test func aHeadTimeSetToAFarFutureIsFoundAndRefused() throws {
        let scratch = try Scratch()
        let data = scratch.at("data")
        #expect(try authctl(["--data", data, "seed", "--users", "3", "--events", "20"]).status == 0)
        let intact = try authctl(["--data", data, "verify"])
        #expect(intact.status == 0, "\(intact.stderr)")

        // The head record: position (8 bytes), hash (32), then its time (microseconds, 8,
        // big-endian), set to about the year 11,100.
        let environment = try Environment(path: data, options: .init(maxDatabases: 16))
        let txn = try environment.beginTransaction(readOnly: false)
        let meta = try #require(try txn.openDatabase("meta"))
        let key = Array("head".utf8)
        var head = [UInt8](try #require(try key.withUnsafeBytes { try txn.get(meta, key: $0) }))
        try #require(head.count == 48)
        head.replaceSubrange(40..<48, with: withUnsafeBytes(of: (Int64(1) << 58).bigEndian) { Array($0) })
        try key.withUnsafeBytes { key in try head.withUnsafeBytes { try txn.put(meta, key: key, value: $0) } }
        try txn.commit()
        environment.close()

        let verified = try authctl(["--data", data, "verify"])
        #expect(verified.status == 1, "\(verified.stdout) \(verified.stderr)")
        #expect((verified.stdout + verified.stderr).contains("head record's time"), "\(verified.stdout)")
        let written = try authctl(
            ["--data", data, "create-admin", "--email", "late@example.com"], input: "a late admin passphrase\n")
        #expect(written.status != 0)
        #expect(written.stderr.contains("the head's time differs from the signed one"), "\(written.stderr)")
    }
}
