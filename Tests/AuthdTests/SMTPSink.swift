import Foundation
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A real SMTP server on loopback (tools/mail/smtp-sink.py, on aiosmtpd) that writes every
/// message it accepts to a directory, with the envelope and whether TLS and AUTH were used.
final class SMTPSink {
    let directory: String
    let process = Process()
    private(set) var port = 0

    /// Starts the sink on `port` (0: one the system picks) with the script's extra `arguments`.
    init(port: Int = 0, arguments: [String] = [], directory given: String? = nil) throws {
        directory = given ?? NSTemporaryDirectory() + "smtp-sink-" + UUID().uuidString
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script, "--port", "\(port)", "--dir", directory] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        ChildProcesses.atExit.adopt(process)
        let (bound, text) = readListeningPort(output)
        guard bound != 0 else {
            if process.isRunning { process.terminate() }
            throw SinkError.didNotStart(text)
        }
        self.port = bound
    }

    enum SinkError: Error { case didNotStart(String) }

    static var script: String {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url.appendingPathComponent("tools/mail/smtp-sink.py").path
    }

    /// A loopback port nothing listens on now, for a sink started later on it, and one the
    /// kernel never gives a socket on its own: below the ephemeral range, from which every
    /// other test's outgoing connections take their ports (a port a stopped sink had was one
    /// of those, and was once taken by another test's connection before the sink came back:
    /// "Address already in use"). A test process hands each port out once.
    static func freePort() throws -> Int {
        let ephemeral =
            (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
            .flatMap { Int($0.split(whereSeparator: \.isWhitespace).first ?? "") } ?? 32_768
        let candidates = max(1_024, ephemeral - 12_000)..<max(1_025, ephemeral)
        for _ in 0..<1_000 {
            let port = Int.random(in: candidates)
            guard handedOut.withLock({ $0.insert(port).inserted }), isFree(port) else { continue }
            return port
        }
        throw SinkError.didNotStart("no free loopback port in \(candidates)")
    }

    private static let handedOut = Mutex<Set<Int>>([])

    /// Whether a socket can bind 127.0.0.1:`port` now.
    private static func isFree(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Stops the sink with SIGKILL: a child of the test process may inherit SIGTERM ignored,
    /// and Python keeps that disposition.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitForExit()
        }
        ChildProcesses.atExit.release(process)
    }

    func remove() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { remove() }

    /// The messages received so far, in arrival order.
    func messages() -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            !$0.hasPrefix(".")
        }
        return names.sorted().compactMap { try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8) }
    }
}

/// Polls `condition` every 100 ms until it holds or `seconds` pass; whether it held.
func eventually(within seconds: Double = 60, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

/// The reset or verification tokens in a message's text (`reference.secret`, base64url).
func tokens(in message: String) -> [String] {
    let pattern = try! NSRegularExpression(pattern: "[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}")
    return pattern.matches(in: message, range: NSRange(message.startIndex..., in: message)).compactMap {
        Range($0.range, in: message).map { String(message[$0]) }
    }
}

/// The value of `name` (without labels) on a metrics page.
func metric(_ name: String, in page: String) -> Double? {
    page.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
}
