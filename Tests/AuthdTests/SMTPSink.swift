import Foundation
import TestSupport
import Testing

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
        guard bound != 0 else { throw SinkError.didNotStart(text) }
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

    /// A loopback port nothing listens on now: a sink's, stopped.
    static func freePort() throws -> Int {
        let sink = try SMTPSink()
        defer { sink.remove() }
        sink.stop()
        return sink.port
    }

    /// Stops the sink with SIGKILL: a child of the test process may inherit SIGTERM ignored,
    /// and Python keeps that disposition.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
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
