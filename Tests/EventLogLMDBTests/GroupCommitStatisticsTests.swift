import Testing

@testable import EventLogLMDB

@Suite struct GroupCommitStatisticsTests {
    @Test func batchesAreCountedInTheBucketOfTheirSize() {
        var statistics = GroupCommitStatistics()
        for jobs in [1, 1, 2, 3, 4, 5, 256, 257, 1_000] { statistics.countBatch(ofJobs: jobs) }
        // Buckets: ≤1, ≤2, ≤4, ≤8, ≤16, ≤32, ≤64, ≤128, ≤256, above.
        #expect(statistics.batchesBySize == [2, 1, 2, 1, 0, 0, 0, 0, 1, 2])
    }
}
