import Foundation
import TestSupport
import Testing

// What the import and key-store tests share: a seeded source, its export, a target to restore
// into, and a user's slot as the export carries it.

/// A seeded, projected directory and its export's lines.
func seededExport(_ scratch: Scratch) throws -> (data: String, lines: [String]) {
    let data = scratch.at("source")
    #expect(try authctl(["--data", data, "seed", "--users", "30", "--events", "200"]).status == 0)
    #expect(try authctl(["--data", data, "rebuild"]).status == 0)
    let export = try authctl(["--data", data, "export"])
    #expect(export.status == 0, "\(export.stderr)")
    return (data, export.stdout.split(separator: "\n").map(String.init))
}

/// A directory holding only a copy of `source`'s key-encryption key (0600), as the
/// operations guide restores into.
func emptyTarget(_ scratch: Scratch, _ name: String, kekFrom source: String) throws -> String {
    let target = scratch.at(name)
    try FileManager.default.createDirectory(
        atPath: target, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    try FileManager.default.copyItem(atPath: source + "/kek", toPath: target + "/kek")
    return target
}

func writeLines(_ lines: [String], to path: String) throws {
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
}

/// The id and the wrapped-key bytes of `email`'s data key, from an export.
func dataKey(of email: String, in data: String, lines: [String]) throws -> (id: String, wrapped: [UInt8]) {
    let user = json(Substring(try authctl(["--data", data, "users", "get", email, "--json"]).stdout.dropLast()))
    let id = try #require(user["id"] as? String)
    let line = try #require(lines.first { $0.contains("\"kind\":\"data_key\"") && $0.contains(id) })
    let slot = bytes(fromHex: try #require(json(Substring(line))["slot"] as? String))
    return (id, Array(slot[16..<76]))
}

extension UUID {
    var uuidBytes: [UInt8] { withUnsafeBytes(of: uuid) { Array($0) } }
}
