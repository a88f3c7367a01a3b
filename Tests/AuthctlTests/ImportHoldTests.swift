import DataProtection
import Foundation
import LMDB
import TestSupport
import Testing

/// An import looks at the data directory before it starts, and again once it keeps writers
/// out, just before its files move in: what a writer left in between is not replaced.
@Suite(.ownThreads) struct ImportHoldTests {
    /// The import is held at its look for writers (the look file held here), after its first
    /// check of the directory; a data key is written meanwhile. Once the look is let go, the
    /// import is refused at its second check, and the key stays.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/locks")))
    func aDataKeyWrittenWhileTheImportRunsIsNotReplaced() throws {
        let scratch = try Scratch()
        let (source, lines) = try seededExport(scratch)
        try writeLines(lines, to: scratch.at("export.jsonl"))
        let target = try emptyTarget(scratch, "restored", kekFrom: source)
        // An empty log: its lock files are there, so the import's look takes the look file.
        let initialised = try authctl(["--data", target, "init"])
        try #require(initialised.status == 0, "\(initialised.stderr)")
        let log = try #require(inode(of: target + "/data.mdb"))
        let lookPath = target + "/" + WriterKindLock.lookName
        let look = open(lookPath, O_RDWR | O_CLOEXEC)
        try #require(look >= 0)
        defer { close(look) }
        try #require(flock(look, LOCK_EX) == 0)

        let importing = Process()
        importing.executableURL = builtProduct("authctl")
        importing.arguments = ["--data", target, "import", scratch.at("export.jsonl")]
        importing.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        let errors = Pipe()
        importing.standardError = errors
        importing.standardOutput = FileHandle.nullDevice
        try importing.run()
        ChildProcesses.atExit.adopt(importing)
        defer { ChildProcesses.atExit.release(importing) }
        let waited = waitUntil {
            !importing.isRunning || flockIsAwaited(onFile: lookPath, byProcess: importing.processIdentifier)
        }
        #expect(waited && importing.isRunning, "the import did not wait at its look")

        let user = UUID()
        do {
            let keys = try KeyStore(dataDirectory: target, environment: [:])
            _ = try keys.createDataKey(for: user)
        }
        flock(look, LOCK_UN)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        importing.waitForExit()

        #expect(importing.terminationStatus == 2, "\(stderr)")
        #expect(stderr.contains("already holds 1 data keys"), "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: target + "/" + "import.partial"))
        #expect(try KeyStore(dataDirectory: target, environment: [:], readOnly: true).users() == [user])
        #expect(inode(of: target + "/data.mdb") == log, "the log was replaced")
    }
}
