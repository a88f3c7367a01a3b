import ArgumentParser
import DataProtection
import EventLog
import EventLogLMDB
import Foundation
import Projections
import Synchronization

struct Rebuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild a projection from the whole log, then switch to it atomically.",
        discussion: """
            Safe while authd runs: the live projection keeps serving and taking appends, and the \
            rebuild folds in what was appended meanwhile before it switches. A progress bar on a \
            terminal, plain lines otherwise. With --log-url, the copy of the shared log in the data \
            directory (a node's) is caught up with the shared log first; a copy the shared log does \
            not continue, or that cannot be read, is moved aside into diverged-TIME and copied again.

            Example:
              authctl --data ./data rebuild --projection users
              authctl --data ./node1 --log-url postgres://authlog@db:5432/authlog rebuild
            """)

    @ParentCommand var root: Authctl
    @Option(help: "The projection to rebuild (users: the User table and the role index).") var projection = "users"

    func run() throws {
        guard projection == UserProjection.name else {
            printError("authctl: no projection named \(projection) (there is: \(UserProjection.name))")
            throw ExitCode(64)
        }
        let users: UserProjection
        var copy: SharedCopy?
        var log: LMDBEventLog?
        defer {
            copy?.close()
            log?.close()
        }
        if let url = root.logURL {
            // A node's copy: caught up with the shared log first, then rebuilt like any other.
            guard root.dataGiven else {
                printError("authctl: rebuild --log-url rebuilds a node's copy: name its data directory with --data")
                throw ExitCode(64)
            }
            let opened = try SharedCopy(root: root, url: url, remakeUnusable: true)
            copy = opened
            if let aside = opened.movedAside {
                print("moved the copy the shared log does not continue (or that could not be read) to \(aside)")
            }
            users = opened.projection
        } else {
            try checkDataDirectory(root.data, readOnly: false)
            let opened = try failing { try LMDBEventLog(directory: root.data) }
            log = opened
            let keys = try failing { try KeyStore(dataDirectory: root.data) }
            reportRepairs(keys)
            users = try failing { try UserProjection(log: opened, keys: keys, prepare: false) }
        }
        let terminal = isatty(STDERR_FILENO) == 1
        // Sampled on a timer, not only at progress reports: the peak falls in the write
        // phase, between reports.
        let peak = Mutex(anonymousMemory())
        let sampler = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "authctl.memory"))
        sampler.schedule(deadline: .now(), repeating: .milliseconds(20))
        sampler.setEventHandler {
            let now = anonymousMemory()
            peak.withLock { $0 = max($0, now) }
        }
        sampler.resume()
        defer { sampler.cancel() }
        let report = try failing {
            try users.rebuild { progress in
                let done = progress.target == 0 ? 1 : Double(progress.position) / Double(progress.target)
                let left = progress.secondsLeft.map { String(format: ", %.0f s left", $0) } ?? ""
                let line = String(
                    format: "%@ %@ %d/%d events, %.0f events/s%@", progress.phase, bar(done), progress.position,
                    progress.target, progress.eventsPerSecond, left)
                FileHandle.standardError.write(
                    Data(((terminal ? "\r\u{1B}[K" : "") + line + (terminal ? "" : "\n")).utf8))
            }
        }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        print(
            String(
                format:
                    "rebuilt %@: %d events, %d users in %.2f s (%.0f events/s; folding %.2f s), %d appended meanwhile",
                projection,
                report.events, report.users, report.seconds, report.eventsPerSecond, report.foldSeconds, report.caughtUp
            ))
        print("peak anonymous memory (sampled every 20 ms): \(peak.withLock { $0 } / 1_048_576) MiB")
    }
}

/// Resident anonymous memory (RssAnon): what the process allocated, without the mapped log.
private func anonymousMemory() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1_024
}

private func bar(_ fraction: Double) -> String {
    let filled = Int((min(max(fraction, 0), 1) * 20).rounded())
    return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled) + "]"
}
