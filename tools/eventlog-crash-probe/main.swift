// Appends to the log in a loop and reports every acknowledged append on stdout, one line
// each: "ack <stream> <version> <position>". The crash-safety test kills it with SIGKILL and
// then checks that every acknowledged event survived.
//
// Usage: eventlog-crash-probe DIR [WRITERS] [FILE_SIZE_LIMIT_BYTES|-] [PAYLOAD_BYTES] [ACKS]
// With a file-size limit the data file cannot grow past it, which fails writes the way a
// full disk does; the probe then prints "error <message>" and exits with status 3.
// PAYLOAD_BYTES (default 160) pads each event, to grow the map quickly. With ACKS the probe
// exits with status 0 once it has printed that many acknowledgements (the sync-order test
// runs it to the end under strace); without, it appends until it is killed.
// With PROBE_WRITABLE_MAP=1 in the environment the log is opened as a cluster node opens its
// copy: deferred sync, pages written in the map.
import EventLog
import EventLogLMDB
import Foundation
import Synchronization

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: eventlog-crash-probe DIR [WRITERS] [FILE_SIZE_LIMIT]\n".utf8))
    exit(64)
}
let writers = arguments.count > 2 ? Int(arguments[2]) ?? 4 : 4
let padding = arguments.count > 4 ? Int(arguments[4]) ?? 160 : 160
let ackLimit = arguments.count > 5 ? Int(arguments[5]) : nil
let acknowledged = Mutex(0)
if arguments.count > 3, let limit = UInt64(arguments[3]) {
    signal(SIGXFSZ, SIG_IGN)
    var bound = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
    setrlimit(Int32(RLIMIT_FSIZE.rawValue), &bound)
}

func report(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    bytes.withUnsafeBytes { _ = write(1, $0.baseAddress, $0.count) }  // one write: lines never interleave
}

let log: LMDBEventLog
do {
    let writableMap = ProcessInfo.processInfo.environment["PROBE_WRITABLE_MAP"] == "1"
    log = try LMDBEventLog(
        directory: arguments[1], options: .init(deferredSync: writableMap, writableMap: writableMap))
} catch {
    report("error \(error)")
    exit(2)
}

await withTaskGroup(of: Void.self) { group in
    for writer in 0..<writers {
        group.addTask {
            let stream = UUID()
            var version: UInt64 = 0
            while true {
                let payload =
                    Array("writer \(writer) event \(version + 1) ".utf8) + [UInt8](repeating: 0x61, count: padding)
                let event = NewEvent(
                    type: "ProbeEvent", metadata: EventMetadata(actor: "system", correlationID: "probe-\(writer)"),
                    payload: payload)
                do {
                    let result = try await log.append([event], to: stream, expecting: .exactly(version))
                    version = result.streamVersion
                    // The count and the line under one lock: the last line is out before the exit.
                    acknowledged.withLock { count in
                        report("ack \(stream.uuidString) \(result.streamVersion) \(result.lastPosition)")
                        count += 1
                        if let ackLimit, count >= ackLimit { exit(0) }
                    }
                } catch {
                    report("error \(error)")
                    exit(3)
                }
            }
        }
    }
}
