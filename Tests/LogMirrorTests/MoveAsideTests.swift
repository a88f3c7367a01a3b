import EventLog
import EventLogLMDB
import Foundation
import LogMirror
import TestSupport
import Testing

/// `LogMirror.moveCopyAside(in:)`: a copy's files move aside only while no writer has them open.
@Suite(.ownThreads) struct MoveAsideTests {
    func withDirectory(_ body: (String) async throws -> Void) async throws {
        let path = NSTemporaryDirectory() + "move-aside-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await body(path)
    }

    /// While a writer of either kind has the log open, the move is refused and nothing moves;
    /// once it has closed the log, the files move into a `diverged-` directory.
    @Test(arguments: [false, true]) func aCopyOpenToAWriterIsNotMoved(inMap: Bool) async throws {
        try await withDirectory { path in
            let log = try LMDBEventLog(directory: path, options: .init(deferredSync: inMap, writableMap: inMap))
            #expect(throws: EventLogError.openToWriter(path: path)) { _ = try LogMirror.moveCopyAside(in: path) }
            #expect(FileManager.default.fileExists(atPath: path + "/data.mdb"))
            let names = try FileManager.default.contentsOfDirectory(atPath: path)
            #expect(!names.contains { $0.hasPrefix("diverged-") }, "\(names)")
            log.close()
            let aside = try LogMirror.moveCopyAside(in: path)
            #expect(!FileManager.default.fileExists(atPath: path + "/data.mdb"))
            #expect(FileManager.default.fileExists(atPath: aside + "/data.mdb"))
        }
    }
}
