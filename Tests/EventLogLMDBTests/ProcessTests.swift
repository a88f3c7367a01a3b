import EventLog
import EventLogLMDB
import Foundation
import Synchronization
import TestSupport
import Testing

/// A running `eventlog-crash-probe` whose acknowledgements are read line by line.
final class Probe {
    let process = Process()
    let output = Pipe()
    private var buffer = [UInt8]()

    init(
        directory: String, writers: Int = 4, fileSizeLimit: Int? = nil, payloadBytes: Int = 160,
        writableMap: Bool = false
    ) throws {
        process.executableURL = URL(fileURLWithPath: productPath("eventlog-crash-probe"))
        process.arguments = [directory, String(writers), fileSizeLimit.map(String.init) ?? "-", String(payloadBytes)]
        if writableMap {
            process.environment = ProcessInfo.processInfo.environment.merging(["PROBE_WRITABLE_MAP": "1"]) { $1 }
        }
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The next line, or `nil` at end of output.
    func nextLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            buffer.append(contentsOf: chunk)
        }
    }

    /// Reads every line until the probe ends: the appends it acknowledged, and its error.
    func runToItsEnd() -> (acknowledged: [Acknowledgement], failure: String?) {
        var acknowledged: [Acknowledgement] = []
        var failure: String?
        while let line = nextLine() {
            if let ack = Acknowledgement(line) {
                acknowledged.append(ack)
            } else if line.hasPrefix("error ") {
                failure = line
            }
        }
        process.waitForExit()
        return (acknowledged, failure)
    }

    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitForExit()
    }
}

struct Acknowledgement: Hashable {
    var stream: UUID
    var version: UInt64
    var position: UInt64

    init?(_ line: String) {
        let fields = line.split(separator: " ")
        guard fields.count == 4, fields[0] == "ack", let stream = UUID(uuidString: String(fields[1])),
            let version = UInt64(fields[2]), let position = UInt64(fields[3])
        else { return nil }
        (self.stream, self.version, self.position) = (stream, version, position)
    }
}

/// Opens the log, checks that every acknowledged event is there, dense and chained, closes it.
/// Opens the log as its writer would next (`writableMap` as the probe wrote it).
func checkSurvivors(
    _ directory: String, _ acknowledged: [Acknowledgement], seed: UInt64? = nil, writableMap: Bool = false
) throws {
    let log = try LMDBEventLog(
        directory: directory, options: .init(deferredSync: writableMap, writableMap: writableMap))
    defer { log.close() }
    let all = try log.all()
    #expect(all.map(\.position) == Array(1...UInt64(max(all.count, 1))).prefix(all.count).map { $0 })
    for ack in acknowledged {
        let stored = all.indices.contains(Int(ack.position) - 1) ? all[Int(ack.position) - 1] : nil
        #expect(
            stored?.streamID == ack.stream && stored?.streamVersion == ack.version,
            "acknowledged \(ack) lost (seed \(seed.map(String.init) ?? "none"))")
    }
    var versions: [UUID: UInt64] = [:]
    for recorded in all {
        #expect(recorded.streamVersion == (versions[recorded.streamID] ?? 0) + 1)
        versions[recorded.streamID] = recorded.streamVersion
    }
    #expect(try log.verify().isIntact)
}

@Suite(.ownThreads) struct ProcessTests {
    /// 20 runs of the probe, each killed after a number of acknowledgements drawn from a
    /// seeded generator: the seed is printed, and `AUTHLOG_CRASH_SEED=<seed>` replays the same
    /// kill points. SIGKILL keeps the page cache, so this proves what a process crash loses;
    /// that an acknowledgement never precedes its commit's sync is ``SyncOrderTests``' job.
    @Test func everyAcknowledgedAppendSurvivesSIGKILL() throws {
        let directory = TemporaryDirectory()
        let seed =
            UInt64(ProcessInfo.processInfo.environment["AUTHLOG_CRASH_SEED"] ?? "")
            ?? UInt64.random(in: 1...1_000_000)
        print("crash probe: seed \(seed) (AUTHLOG_CRASH_SEED=\(seed) replays it)")
        var generator = SplitMix64(seed: seed)
        var acknowledged: [Acknowledgement] = []
        for _ in 0..<20 {
            let probe = try Probe(directory: directory.path)
            // Kill after a drawn number of acknowledgements: some moment in the append loop.
            let target = Int.random(in: 1...300, using: &generator)
            var seen = 0
            while seen < target, let line = probe.nextLine() {
                if let ack = Acknowledgement(line) {
                    acknowledged.append(ack)
                    seen += 1
                }
            }
            probe.kill()
            while let line = probe.nextLine() {  // acknowledgements already written to the pipe
                if let ack = Acknowledgement(line) { acknowledged.append(ack) }
            }
            #expect(seen == target, "the probe ended early (seed \(seed))")
            try checkSurvivors(directory.path, acknowledged, seed: seed)
        }
        #expect(acknowledged.count >= 20)
    }

    @Test func aFullDiskFailsClearlyAndLosesNothingAcknowledged() async throws {
        let directory = TemporaryDirectory()
        // The file-size limit makes the data file's growth fail as a full disk would.
        let probe = try Probe(directory: directory.path, writers: 8, fileSizeLimit: 1 << 20)
        let (acknowledged, failure) = probe.runToItsEnd()
        #expect(probe.process.terminationStatus == 3)
        // ENOSPC/EFBIG say "storage full"; LMDB reports a short write as EIO ("write failed").
        #expect(failure?.contains(", nothing was acknowledged: ") == true, "got \(failure ?? "nothing")")
        #expect(acknowledged.count > 100)
        try checkSurvivors(directory.path, acknowledged)
        // Space again: the log opens and takes appends where it left off.
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        let head = try log.headPosition()
        let result = try await log.append([event()], to: UUID(), expecting: .noStream)
        #expect(result.firstPosition == head + 1)
        #expect(try log.verify().isIntact)
    }

    /// With the map written in place (a node's copy), a disk that fills up fails the map's
    /// growth, whose blocks are allocated first, with a clear error: never a write into a page
    /// the disk has no room for, which kills the process with SIGBUS. The disk is a small
    /// tmpfs (mounting needs root, as the test command runs).
    @Test(.enabled(if: getuid() == 0, "mounts a small tmpfs"))
    func aFullDiskFailsTheGrowthOfAWritableMapClearly() async throws {
        let directory = TemporaryDirectory()
        let disk = directory.path + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mount = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=20m,mode=0700", "tmpfs", disk])
        #expect(mount.status == 0, "mount: \(mount.stderr)")
        guard mount.status == 0 else { return }
        defer { _ = try? run("/bin/umount", [disk]) }
        let probe = try Probe(directory: disk + "/log", writers: 8, payloadBytes: 2_000, writableMap: true)
        let (acknowledged, failure) = probe.runToItsEnd()
        #expect(
            probe.process.terminationReason == .exit,
            "the probe was killed by signal \(probe.process.terminationStatus)")
        #expect(probe.process.terminationStatus == 3)
        #expect(failure?.contains("storage full") == true, "got \(failure ?? "nothing")")
        #expect(acknowledged.count > 100)
        try checkSurvivors(disk + "/log", acknowledged, writableMap: true)
        // A new copy on the full disk: the blocks of its first map cannot be allocated.
        let refused = #expect(throws: EventLogError.self) {
            _ = try LMDBEventLog(directory: disk + "/new", options: .init(deferredSync: true, writableMap: true))
        }
        guard case .storageFull = refused else {
            Issue.record("opening a new copy on a full disk: \(String(describing: refused))")
            return
        }
    }

    /// Two processes on one copy: the probe appends through a writable map grown past its
    /// first size while this process opens the directory as a node's copy is opened, asking
    /// for the first size. LMDB cuts the file to the size it is given (at least the pages in
    /// use), under the probe's map, which then dies of SIGBUS at its next new page; the open
    /// asks for the file's length instead, and the probe writes on, also after this process
    /// adopted the size the probe grew to next.
    @Test func openingACopyBesideAWriterThatGrewItsMapLeavesTheWriterRunning() async throws {
        let directory = TemporaryDirectory()
        let probe = try Probe(directory: directory.path, writers: 8, payloadBytes: 4_000, writableMap: true)
        var acknowledged: [Acknowledgement] = []
        func read(until count: Int) {
            while acknowledged.count < count, let line = probe.nextLine() {
                if let ack = Acknowledgement(line) { acknowledged.append(ack) }
            }
        }
        read(until: 6_000)  // two pages an event: past the first map of 16 MiB
        var file = stat()
        #expect(stat(directory.path + "/data.mdb", &file) == 0 && file.st_size > 16 << 20)
        let beside = try LMDBEventLog(directory: directory.path, options: .init(deferredSync: true, writableMap: true))
        read(until: acknowledged.count + 3_000)
        // The probe grew its map again: this process's next transaction adopts the new size.
        #expect(try beside.headPosition() >= UInt64(acknowledged.count))
        read(until: acknowledged.count + 1_000)
        #expect(probe.process.isRunning, "the probe ended (signal \(probe.process.terminationStatus))")
        beside.close()
        probe.kill()
        #expect(
            probe.process.terminationReason == .uncaughtSignal && probe.process.terminationStatus == SIGKILL,
            "the probe ended before it was killed: signal \(probe.process.terminationStatus)")
        while let line = probe.nextLine() {  // acknowledgements already written to the pipe
            if let ack = Acknowledgement(line) { acknowledged.append(ack) }
        }
        try checkSurvivors(directory.path, acknowledged, writableMap: true)
    }

    @Test func aReaderAdoptsTheMapSizeAnotherProcessGrew() async throws {
        let directory = TemporaryDirectory()
        let writer = try LMDBEventLog(directory: directory.path)
        _ = try await writer.append([event()], to: UUID(), expecting: .noStream)
        writer.close()
        let reader = try LMDBEventLog(directory: directory.path, options: .init(readOnly: true))
        defer { reader.close() }
        let before = reader.environment.mapSize
        #expect(try reader.headPosition() == 1)
        // 600 events of 60 KB is over twice the 16 MiB map this process mapped.
        let probe = try Probe(directory: directory.path, writers: 2, payloadBytes: 60_000)
        var acknowledged: [Acknowledgement] = []
        while acknowledged.count < 600, let line = probe.nextLine() {
            if let ack = Acknowledgement(line) { acknowledged.append(ack) }
        }
        probe.kill()
        #expect(acknowledged.count == 600)
        #expect(try reader.headPosition() >= 601)
        #expect(reader.environment.mapSize > before)
        #expect(try reader.verify().isIntact)
    }

    @Test func anotherProcessReadsWhileThisOneWrites() async throws {
        let directory = TemporaryDirectory()
        let log = try LMDBEventLog(directory: directory.path)
        defer { log.close() }
        _ = try await log.append([event()], to: UUID(), expecting: .noStream)
        let writing = Task {
            for batch in 0..<40 {
                let requests = (0..<50).map {
                    AppendRequest(stream: UUID(), expected: .noStream, events: [event("W", "\(batch) \($0)")])
                }
                _ = try await log.append(requests)
            }
        }
        var readings: [UInt64] = []
        for _ in 0..<5 {
            let before = try log.headPosition()
            let result = try run(productPath("authctl"), ["--data", directory.path, "verify", "--json"])
            // Intact; written without a key, so nothing signed (exit 3).
            #expect(result.status == 3, "\(result.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(report?["intact"] as? Bool == true)
            let events = (report?["events"] as? NSNumber)?.uint64Value ?? 0
            #expect(events >= before)
            readings.append(events)
        }
        try await writing.value
        let stats = try run(productPath("authctl"), ["--data", directory.path, "stats", "--json"])
        #expect(stats.status == 0)
        #expect(stats.stdout.contains("\"events\":2001"))
        #expect(readings == readings.sorted())
    }
}
