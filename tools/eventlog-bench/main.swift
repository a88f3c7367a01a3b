// Event log benchmark. Prints durable append rates at 1, 16 and 256 concurrent writers, the
// rate of a full read with payload decoding, the rate of hash-chain verification, and JSON
// decoding for comparison.
//
// Usage: swift run -c release eventlog-bench [EVENTS] [DIRECTORY]
//   EVENTS     events in the log for the read and verify runs (default 2,000,000)
//   DIRECTORY  an empty or missing directory (default: a new temporary one, removed after)
// BENCH_SIGN=1 signs every commit's head (signed checkpoints, as authd does), with a fixed key.
import EventLog
import EventLogLMDB
import Foundation
import LogBench
import Signatures

let arguments = CommandLine.arguments
let totalEvents = arguments.count > 1 ? Int(arguments[1]) ?? 2_000_000 : 2_000_000
let directory =
    arguments.count > 2 ? arguments[2] : NSTemporaryDirectory() + "eventlog-bench-\(UUID().uuidString)"
let removeAfter = arguments.count <= 2

let metadata = EventMetadata(actor: "7b0f5a4e-2c1d-4e8f-9a6b-3d2c1b0a9f8e", correlationID: "req-0123456789abcdef")
func sampleEvent(_ index: Int) -> NewEvent {
    var writer = ByteWriter()
    SamplePayload.make(index).encode(to: &writer)
    return NewEvent(type: "ProfileUpdated", schemaVersion: 1, metadata: metadata, payload: writer.bytes)
}

let log = try LMDBEventLog(directory: directory)
let signing = ProcessInfo.processInfo.environment["BENCH_SIGN"] == "1"
if signing { try log.startSigning(with: try Ed25519Key(privateKey: [UInt8](repeating: 1, count: 32))) }
print("eventlog-bench: \(ProcessInfo.processInfo.activeProcessorCount) cores, directory \(directory)")
print("signed checkpoints: \(signing ? "every commit" : "off")")
print("payload \(sampleEvent(1).payload.count) bytes; durable commits (fsync on every commit)")

// 1. Durable appends, one event per append, N concurrent writers each on its own stream.
try await LogBench.concurrentAppends(
    to: log, writerCounts: LogBench.writerCounts(defaults: [1, 16, 256]), event: sampleEvent,
    commits: {
        let statistics = log.groupCommitStatistics
        return (Int(statistics.jobs), Int(statistics.batches))
    })

// 2. Fill the log to the requested size through the normal append path, in large batches.
try await LogBench.fill(log, to: totalEvents, event: sampleEvent)

// 3. Read the whole log, decoding each envelope and its payload; then envelopes only.
enum PayloadDecoding { case none, inPlace, owned }
func readAll(_ decoding: PayloadDecoding) throws -> (count: Int, checksum: Int) {
    var count = 0
    var checksum = 0
    try log.forEachEnvelope(from: 1) { view in
        switch decoding {
        case .none: break
        case .inPlace: checksum &+= try SamplePayload.decodeInPlace(view.payload).email.count
        case .owned: checksum &+= try SamplePayload.decode(view.payload).email.utf8.count
        }
        checksum &+= Int(view.streamVersion)
        count += 1
        return true
    }
    return (count, checksum)
}
var checksum = 0
// The first walk maps the file's pages into this process (page faults); the next ones show
// the steady state of a running service, whose map stays warm.
var coldCount = 0
let coldTime = try await LogBench.seconds { coldCount = try readAll(.none).count }
print("read envelopes, whole log, first walk:     \(LogBench.rate(coldCount, coldTime))  (cold map)")
for decoding in [PayloadDecoding.none, .inPlace, .owned] {
    var result = (count: 0, checksum: 0)
    let elapsed = try await LogBench.seconds { result = try readAll(decoding) }
    checksum &+= result.checksum
    let label =
        switch decoding {
        case .none: "read envelopes only, whole log:           "
        case .inPlace: "read + decode payload in place, whole log:"
        case .owned: "read + decode payload to Strings:         "
        }
    print("\(label) \(LogBench.rate(result.count, elapsed))")
}

// 3c. The same, one reader per core, each over its share of the positions.
let cores = ProcessInfo.processInfo.activeProcessorCount
for decoding in [PayloadDecoding.inPlace, .owned] {
    var counted = 0
    let elapsed = try await LogBench.seconds {
        let parts = try log.foldConcurrently(partitions: cores, initial: { (count: 0, checksum: 0) }) { state, view in
            switch decoding {
            case .none: break
            case .inPlace: state.checksum &+= try SamplePayload.decodeInPlace(view.payload).email.count
            case .owned: state.checksum &+= try SamplePayload.decode(view.payload).email.utf8.count
            }
            state.count += 1
        }
        counted = parts.reduce(0) { $0 + $1.count }
    }
    let label = decoding == .inPlace ? "in place, \(cores) readers: " : "to Strings, \(cores) readers:"
    print("read + decode payload \(label) \(LogBench.rate(counted, elapsed))")
}

if ProcessInfo.processInfo.environment["BENCH_ONLY_READ"] != nil { exit(0) }

// 4. Verify the hash chain over the whole log.
var verified: UInt64 = 0
let verifyTime = try await LogBench.seconds {
    guard case .intact(let count, _, _) = try log.verify() else { fatalError("chain broken") }
    verified = count
}
print("verify hash chain, whole log:              \(LogBench.rate(Int(verified), verifyTime))")

// 5. For comparison: the same payload as JSON through Foundation's JSONDecoder.
let jsonSamples = try (0..<100_000).map { try JSONEncoder().encode(SamplePayload.make($0)) }
let decoder = JSONDecoder()
let jsonTime = try await LogBench.seconds {
    for sample in jsonSamples { checksum &+= try decoder.decode(SamplePayload.self, from: sample).email.utf8.count }
}
let binarySamples = (0..<100_000).map { index -> [UInt8] in
    var writer = ByteWriter()
    SamplePayload.make(index).encode(to: &writer)
    return writer.bytes
}
let binaryTime = try await LogBench.seconds {
    for sample in binarySamples {
        checksum &+= try sample.withUnsafeBytes { try SamplePayload.decode($0) }.email.utf8.count
    }
}
print(
    "payload decode only, JSONDecoder:          \(LogBench.rate(jsonSamples.count, jsonTime))  (\(jsonSamples[0].count) bytes)"
)
print(
    "payload decode only, binary codec:         \(LogBench.rate(binarySamples.count, binaryTime))  (\(binarySamples[0].count) bytes)"
)
print("log size: \(log.environment.usedBytes / 1_048_576) MiB")
log.close()
if removeAfter { try? FileManager.default.removeItem(atPath: directory) }
