import Foundation
import TestSupport
import Testing

@testable import EventLogLMDB

@Suite(.ownThreads) struct GroupCommitStatisticsTests {
    @Test func batchesAreCountedInTheBucketOfTheirSize() {
        var statistics = GroupCommitStatistics()
        for jobs in [1, 1, 2, 3, 4, 5, 256, 257, 1_000] { statistics.countBatch(ofJobs: jobs) }
        // Buckets: ≤1, ≤2, ≤4, ≤8, ≤16, ≤32, ≤64, ≤128, ≤256, above.
        #expect(statistics.batchesBySize == [2, 1, 2, 1, 0, 0, 0, 0, 1, 2])
    }

    /// The writer's thread shows as `log-writer` in ps, top and perf (Foundation's
    /// `Thread.name` alone left it with the name of the thread that started it).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/thread-self/comm")))
    func theWriterThreadIsNamedForTheSystem() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        // Once an append is acknowledged, the writer thread has run, and it names itself first.
        _ = try await log.append([event()], to: UUID(), expecting: .noStream)
        // Other tests' threads may end between the listing and the reading: skip those.
        let names = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap {
            try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8)
        }
        #expect(names.contains("log-writer\n"), "\(Set(names))")
    }
}
