// PostgreSQL event log benchmark. Prints durable append rates at 1, 16, 64 and 256 concurrent
// writers (one event per append, group commit), a fill in large appends, a full read and a
// verification of the hash chain.
//
// Usage: postgres-bench URL [EVENTS]
//   URL     a PostgreSQL server, postgres://USER@HOST:PORT/DATABASE (tools/postgres/start-throwaway.sh
//           prints one); the bench creates a database of its own there and drops it at the end
//   EVENTS  events in the log for the read and verify runs (default 200,000)
// BENCH_WRITERS=1,16,64,256 chooses the writer counts; BENCH_SIGN=1 signs every commit's head.
import EventLog
import EventLogPostgres
import Foundation
import LogBench
import PostgresNIO
import Signatures

let arguments = CommandLine.arguments
guard arguments.count > 1 else {
    FileHandle.standardError.write(Data("usage: postgres-bench URL [EVENTS]\n".utf8))
    exit(64)
}
let serverURL = arguments[1]
let totalEvents = arguments.count > 2 ? Int(arguments[2]) ?? 200_000 : 200_000

/// Runs one statement on the server's own database (creating and dropping the bench's).
func administer(_ sql: String) throws {
    let (configuration, _) = try PostgresEventLog.configuration(url: serverURL)
    var logger = Logger(label: "postgres-bench")
    logger.logLevel = .critical
    let connection = try PostgresConnection.connect(
        on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: logger
    ).wait()
    defer { _ = try? connection.close().wait() }
    _ = try connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).wait()
}

let metadata = EventMetadata(actor: "7b0f5a4e-2c1d-4e8f-9a6b-3d2c1b0a9f8e", correlationID: "req-0123456789abcdef")
/// A payload of about the size of a user event's: 160 bytes that differ per event.
func sampleEvent(_ index: Int) -> NewEvent {
    var payload = Array("user\(index)@example.com|Display Name \(index)|".utf8)
    while payload.count < 160 { payload.append(UInt8(truncatingIfNeeded: index &* 31 &+ payload.count)) }
    return NewEvent(type: "ProfileUpdated", schemaVersion: 1, metadata: metadata, payload: payload)
}

let database = "authlog_bench_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
try administer("CREATE DATABASE \(database)")
defer { try? administer("DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
var parts = URLComponents(string: serverURL)!
parts.path = "/" + database
let log = try PostgresEventLog(url: parts.string!)
let signing = ProcessInfo.processInfo.environment["BENCH_SIGN"] == "1"
if signing { try log.startSigning(with: try Ed25519Key(privateKey: [UInt8](repeating: 1, count: 32))) }
print("postgres-bench: \(ProcessInfo.processInfo.activeProcessorCount) cores, database \(database)")
print("signed checkpoints: \(signing ? "every commit" : "off")")
print("payload \(sampleEvent(1).payload.count) bytes; durable commits (synchronous_commit on)")

// 1. Durable appends, one event per append, N concurrent writers each on its own stream.
try await LogBench.concurrentAppends(
    to: log, writerCounts: LogBench.writerCounts(defaults: [1, 16, 64, 256]), event: sampleEvent,
    commits: {
        let statistics = log.groupCommitStatistics
        return (Int(statistics.appends), Int(statistics.batches))
    })

// 2. Fill the log to the requested size through the normal append path, in large batches.
try await LogBench.fill(log, to: totalEvents, event: sampleEvent)

// 3. Read the whole log a page at a time; verify its chain.
let head = try log.headPosition()
var readCount = 0
let readTime = try await LogBench.seconds {
    for try await _ in log.events(from: 1, pageSize: 4_096) { readCount += 1 }
}
print("read whole log (\(head) events, pages of 4,096):  \(LogBench.rate(readCount, readTime))")
var verified: UInt64 = 0
let verifyTime = try await LogBench.seconds {
    guard case .intact(let count, _, _) = try log.verify() else { fatalError("chain broken") }
    verified = count
}
print("verify hash chain, whole log:              \(LogBench.rate(Int(verified), verifyTime))")
log.close()
