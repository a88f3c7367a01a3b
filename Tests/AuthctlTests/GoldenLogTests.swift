import Foundation
import TestSupport
import Testing

/// Logs written by earlier releases, kept under Tests/Golden: every later build must import,
/// verify and read them as the release that wrote them did.
@Suite(.ownThreads) struct GoldenLogTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Golden").path
    /// Public test material (see Tests/Golden/export-v1/README.md).
    static let kek = ["AUTHLOG_KEK": "676f6c64656e2d6c6f672d746573742d6b656b2d6e6f742d612d7265616c2d31"]

    @Test func exportFormatOneImportsVerifiesAndReadsEveryUserAsItsReleaseDid() throws {
        let scratch = try Scratch()
        let data = scratch.at("imported")
        let source = Self.folder + "/export-v1"
        // Unsigned: refused unless the operator says it was checked.
        let refused = try authctl(
            ["--data", scratch.at("refused"), "import", source + "/export.jsonl"], environment: Self.kek)
        #expect(refused.status == 2 && refused.stderr.contains("--allow-unsigned"), "\(refused.stderr)")
        let imported = try authctl(
            ["--data", data, "import", "--allow-unsigned", source + "/export.jsonl"],
            environment: Self.kek)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("imported 347 events"))
        let verified = try authctl(["--data", data, "verify"], environment: Self.kek)
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stdout.contains("intact and signed: 347 events verified"))
        let expected = try String(contentsOfFile: source + "/users.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(expected.count == 8)
        try expectEveryUser(expected, readsBackFrom: data)
        // The erased user's personal data reads back nowhere, in the history as in the table.
        let history = try authctl(["--data", data, "history", "golden7@example.com"], environment: Self.kek)
        #expect(history.status != 0)
        let erased = try #require(expected.map(json).first { $0["erased"] as? Bool == true }?["id"] as? String)
        let trail = try authctl(["--data", data, "history", erased, "--json"], environment: Self.kek)
        #expect(trail.status == 0, "\(trail.stderr)")
        for secret in ["Zoë", "O'Brien", "O\\u0027Brien", "golden7@", "cus_golden7", "+1 555 0117"] {
            #expect(!trail.stdout.contains(secret), "\(secret) in the erased user's history")
        }
        #expect(trail.stdout.contains("UserErased"))
    }

    @Test func exportFormatTwoImportsSignedVerifiesReadsEveryUserAndExportsTheSameBytes() throws {
        let scratch = try Scratch()
        let data = scratch.at("imported")
        let source = Self.folder + "/export-v2"
        let imported = try authctl(["--data", data, "import", source + "/export.jsonl"], environment: Self.kek)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("imported 347 events") && imported.stdout.contains("1 signed checkpoints"))
        let verified = try authctl(["--data", data, "verify"], environment: Self.kek)
        #expect(verified.status == 0 && verified.stdout.contains("intact and signed: 347 events"), "\(verified.stderr)")
        let expected = try String(contentsOfFile: source + "/users.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(expected.count == 8)
        try expectEveryUser(expected, readsBackFrom: data)
        let again = try authctl(["--data", data, "export"], environment: Self.kek)
        #expect(again.stdout == (try String(contentsOfFile: source + "/export.jsonl", encoding: .utf8)))
    }

    /// The kinds and actors that came after export-v2: an email change, a Stripe unlink, a
    /// service credential as actor, and an erasure of a user the credential had linked.
    @Test func theNewerKindsAndACredentialActorImportVerifyReadAndExportTheSameBytes() throws {
        let scratch = try Scratch()
        let data = scratch.at("imported")
        let source = Self.folder + "/export-v2-kinds"
        let text = try String(contentsOfFile: source + "/export.jsonl", encoding: .utf8)
        for kind in ["EmailChangeRequested", "EmailChanged", "StripeCustomerUnlinked", "\"actor\":\"credential:"] {
            #expect(text.contains(kind), "the golden log holds \(kind)")
        }
        let imported = try authctl(["--data", data, "import", source + "/export.jsonl"], environment: Self.kek)
        #expect(imported.status == 0 && imported.stdout.contains("imported 19 events"), "\(imported.stderr)")
        let verified = try authctl(["--data", data, "verify"], environment: Self.kek)
        #expect(verified.status == 0 && verified.stdout.contains("intact and signed: 19 events"), "\(verified.stderr)")
        let expected = try String(contentsOfFile: source + "/users.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(expected.count == 4)
        try expectEveryUser(expected, readsBackFrom: data)
        let moved = try authctl(
            ["--data", data, "users", "get", "golden-moved@example.com", "--json"], environment: Self.kek)
        #expect(moved.status == 0, "the address moved with EmailChanged")
        let erased = try #require(expected.map(json).first { $0["erased"] as? Bool == true }?["id"] as? String)
        let trail = try authctl(["--data", data, "history", erased, "--json"], environment: Self.kek)
        #expect(trail.status == 0 && trail.stdout.contains("UserErased"), "\(trail.stderr)")
        #expect(trail.stdout.contains("credential:"), "the credential is named as the actor")
        for secret in ["golden-gone@", "cus_goldengone", "Soon"] {
            #expect(!trail.stdout.contains(secret), "\(secret) in the erased user's history")
        }
        let again = try authctl(["--data", data, "export"], environment: Self.kek)
        #expect(again.stdout == text)
    }

    /// Each line of a golden `users.jsonl` is what `authctl users get ID --json` prints for
    /// that user from `data`, field by field.
    func expectEveryUser(_ expected: [Substring], readsBackFrom data: String) throws {
        for line in expected {
            let want = json(line)
            let id = try #require(want["id"] as? String)
            let got = try authctl(["--data", data, "users", "get", id, "--json"], environment: Self.kek)
            #expect(got.status == 0, "\(got.stderr)")
            let have = json(Substring(got.stdout.trimmingCharacters(in: .newlines)))
            for (field, value) in want {
                #expect("\(have[field] ?? "missing")" == "\(value)", "user \(id), field \(field)")
            }
        }
    }
}
