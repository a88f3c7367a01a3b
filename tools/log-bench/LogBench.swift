import EventLog
import Foundation

/// The workloads the two event-log benchmarks share (eventlog-bench on LMDB, postgres-bench
/// on PostgreSQL), so that their figures measure the same thing: timing, the rate format,
/// concurrent durable appends and a fill in large appends.
public enum LogBench {
    /// Seconds `body` took, by the monotonic clock.
    public static func seconds(_ body: () async throws -> Void) async rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try await body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// `count` per `elapsed` seconds, right-aligned, as every line of the benchmarks prints it.
    public static func rate(_ count: Int, _ elapsed: Double) -> String {
        String(format: "%12.0f/s", Double(count) / elapsed)
    }

    /// Durable appends, one event per append, by each of `writerCounts` concurrent writers on
    /// a stream of its own (2,000 appends for one writer; about 80,000 in all for more, at
    /// least 800 each). Prints one line per count, with the appends per commit that
    /// `commits` (appends and commits so far, from the log's statistics) gives.
    public static func concurrentAppends(
        to log: any EventLog, writerCounts: [Int], event: @escaping @Sendable (Int) -> NewEvent,
        commits: () -> (appends: Int, batches: Int)
    ) async throws {
        for writers in writerCounts {
            let before = commits()
            let perWriter = writers == 1 ? 2_000 : max(20_000 / writers, 200) * 4
            let elapsed = try await seconds {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<writers {
                        group.addTask {
                            let stream = UUID()
                            for index in 0..<perWriter {
                                _ = try await log.append(
                                    [event(writer * perWriter + index)], to: stream, expecting: .exactly(UInt64(index)))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let after = commits()
            let perCommit = Double(after.appends - before.appends) / Double(max(1, after.batches - before.batches))
            print(
                "append, \(String(format: "%3d", writers)) writers, 1 event each: \(rate(writers * perWriter, elapsed))"
                    + String(format: "  (%.1f appends per commit)", perCommit))
        }
    }

    /// Fills `log` to `totalEvents` through the normal append path, 1,000 new streams an append
    /// call, and prints the rate (nothing when it holds that many already).
    public static func fill(_ log: any EventLog, to totalEvents: Int, event: (Int) -> NewEvent) async throws {
        let filled = try log.headPosition()
        let fillTime = try await seconds {
            var next = Int(filled)
            let template = (0..<1_000).map(event)
            while next < totalEvents {
                let count = min(1_000, totalEvents - next)
                let requests = (0..<count).map {
                    AppendRequest(stream: .timeOrdered(), expected: .noStream, events: [template[$0]])
                }
                _ = try await log.append(requests)
                next += count
            }
        }
        if totalEvents > Int(filled) {
            print(
                "fill to \(totalEvents) events (1,000 appends per call): \(rate(totalEvents - Int(filled), fillTime))")
        }
    }

    /// `BENCH_WRITERS` (comma-separated counts), or `defaults`.
    public static func writerCounts(defaults: [Int]) -> [Int] {
        ProcessInfo.processInfo.environment["BENCH_WRITERS"].map { $0.split(separator: ",").compactMap { Int($0) } }
            ?? defaults
    }
}
