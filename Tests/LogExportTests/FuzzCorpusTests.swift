import Foundation
import TestSupport
import Testing

/// The committed fuzz corpus, replayed through every target as the package builds it (no
/// sanitizer): each input still passes its target's properties, so a change that breaks one
/// fails here as well as in `tools/fuzz/run.sh`.
@Suite(.ownThreads) struct FuzzCorpusTests {
    static let targets = ["payload", "envelope", "export-line", "strict-json", "phc", "tokens", "jwt", "free-list"]

    @Test(arguments: targets) func everyCommittedInputPassesItsTarget(target: String) throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/fuzz/corpus/\(target)").path
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus)
        #expect(!files.isEmpty, "no seeds for \(target)")
        let output = try runProcess(builtProduct("authlog-fuzz"), [target, corpus])
        #expect(output.status == 0, "\(target): \(output.stderr)")
        #expect(output.stdout == "\(target): \(files.count) inputs replayed\n")
    }
}
