import Foundation
import TestSupport
import Testing

/// No acknowledgement precedes the sync of its commit, read from the system calls themselves.
///
/// A SIGKILL keeps the page cache, so the crash test would pass with no sync at all. Here the
/// crash probe runs under `strace` with one writer, so each append is one transaction between
/// two acknowledgements: between an acknowledgement and the one before it, the trace must show
/// the data file synced (`fdatasync`/`fsync`/`msync` on `data.mdb`, completed) and, after that,
/// the meta page written durably (a `pwrite` on the descriptor LMDB opened with `O_DSYNC`, or
/// a write followed by another sync) before the `ack` line's `write` to stdout begins.
@Suite(.ownThreads) struct SyncOrderTests {
    static let acknowledgements = 200

    @Test func everyAcknowledgementFollowsTheSyncOfItsCommit() throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        let trace = directory.child("trace.txt")
        let data = directory.child("log")
        let result = try run(
            "/usr/bin/strace",
            [
                "-f", "-y", "-qq", "-s", "96", "-o", trace,
                "-e", "trace=openat,write,pwrite64,pwritev,pwritev2,fdatasync,fsync,msync,sync_file_range",
                productPath("eventlog-crash-probe"), data, "1", "-", "160", String(Self.acknowledgements),
            ])
        #expect(result.status == 0, "\(result.stderr)")
        let acks = result.stdout.split(separator: "\n").filter { $0.hasPrefix("ack ") }
        #expect(acks.count == Self.acknowledgements)
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").map(String.init)
        let check = SyncOrder.check(lines)
        #expect(
            check.acknowledgements == Self.acknowledgements,
            "acks seen in a trace of \(lines.count) lines: \(lines.filter { $0.contains("ack ") }.prefix(3)); \(lines.prefix(3))"
        )
        let late = check.violations.count
        #expect(late == 0, "acknowledged before a sync: \(check.violations.prefix(3))")

        // strace pads a pid shorter than five digits ("7308  write(..."): the same trace so
        // spelled reads the same.
        let padded = lines.map { line in
            line.firstIndex(of: " ").map { String(line[..<$0]) + "   " + line[line.index(after: $0)...] } ?? line
        }
        #expect(SyncOrder.check(padded).acknowledgements == Self.acknowledgements)

        // The check itself can fail: the same trace without its syncs is refused at every ack.
        let unsynced = lines.filter { !$0.contains("fdatasync(") && !$0.contains("fsync(") && !$0.contains("msync(") }
        let refused = SyncOrder.check(unsynced)
        #expect(refused.violations.count == Self.acknowledgements)
    }
}

/// Reads an `strace -f -y` trace in order and finds acknowledgements not preceded, since the
/// previous one, by a completed data sync followed by a durable meta-page write.
enum SyncOrder {
    struct Result {
        var acknowledgements = 0
        var violations: [String] = []
    }

    static func check(_ lines: [String]) -> Result {
        var result = Result()
        var dsyncDescriptors: Set<String> = []
        var pending: [String: String] = [:]  // pid -> the unfinished call's text
        var synced = false  // a data sync completed since the last ack
        var durable = false  // ... and after it, the meta page was written durably
        var writtenSinceSync = false
        func judge(_ call: String) {
            result.acknowledgements += 1
            if !(synced && durable) { result.violations.append(call) }
            synced = false
            durable = false
            writtenSinceSync = false
        }
        for line in lines {
            guard let space = line.firstIndex(of: " ") else { continue }
            let pid = String(line[..<space])
            // strace pads the pid to five columns: "7308  write(...)" has two spaces.
            var call = String(line[line.index(after: space)...].drop { $0 == " " })
            if call.hasSuffix("<unfinished ...>") {
                pending[pid] = call
                // An ack's write begins here: judge it at its start.
                if call.hasPrefix("write(1<") && call.contains("\"ack ") { judge(call) }
                continue
            }
            if call.hasPrefix("<... ") {
                guard let started = pending.removeValue(forKey: pid), let close = call.range(of: " resumed>") else {
                    continue
                }
                call = started.replacingOccurrences(of: "<unfinished ...>", with: "") + call[close.upperBound...]
                if call.hasPrefix("write(1<") { continue }  // judged at its start
            } else if call.hasPrefix("write(1<") && call.contains("\"ack ") {
                judge(call)
                continue
            }
            let onData = call.contains("data.mdb>")
            let succeeded = call.range(of: #"= \d+"#, options: .regularExpression) != nil
            if call.hasPrefix("openat("), call.contains("data.mdb\""), call.contains("O_DSYNC"), succeeded,
                let fd = call.range(of: #"= \d+"#, options: .regularExpression)
            {
                dsyncDescriptors.insert(String(call[fd].dropFirst(2)))
            } else if onData, succeeded,
                call.hasPrefix("fdatasync(") || call.hasPrefix("fsync(") || call.hasPrefix("msync(")
            {
                if writtenSinceSync && synced { durable = true }
                synced = true
                writtenSinceSync = false
            } else if onData, succeeded, call.hasPrefix("pwrite") {
                let fd = String(call.drop { $0 != "(" }.dropFirst().prefix { $0 != "<" })
                if synced && dsyncDescriptors.contains(fd) { durable = true } else { writtenSinceSync = true }
            }
        }
        return result
    }
}
