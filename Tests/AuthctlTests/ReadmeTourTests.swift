import Foundation
import TestSupport
import Testing

@Suite(.ownThreads) struct ReadmeTourTests {
    /// The README's tour block, run line by line with bash -e: every command it shows works.
    @Test func theReadmeTourRuns() throws {
        let readme = try String(contentsOfFile: packageRoot() + "/README.md", encoding: .utf8)
        let start = try #require(readme.range(of: "<!-- tour -->"))
        let end = try #require(readme.range(of: "<!-- /tour -->"))
        let block = readme[start.upperBound..<end.lowerBound]
            .split(separator: "\n").filter { !$0.hasPrefix("```") }.joined(separator: "\n")
        #expect(block.contains("authctl"))
        let scratch = try Scratch()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-euo", "pipefail", "-c", block]
        let binaries = authctlDirectory()
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
            .merging([
                "TOUR": scratch.path, "PATH": binaries + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? ""),
            ]) { $1 }
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitForExit()
        #expect(process.terminationStatus == 0, "the tour failed: \(stderr)")
    }
}

/// The package's root: the directory holding Package.swift above this file.
func packageRoot() -> String {
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) && url.path != "/" {
        url.deleteLastPathComponent()
    }
    return url.path
}

/// Where the built `authctl` is: beside the test bundle.
func authctlDirectory() -> String { builtProductsDirectory(containing: "authctl").path }
