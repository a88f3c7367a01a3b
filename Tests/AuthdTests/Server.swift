import Foundation
import TestSupport
import Testing

/// Where the package's built products are: beside the test bundle.
func products() -> URL { builtProductsDirectory(containing: "authd") }

/// A real `authd` on an ephemeral loopback port over its own data directory.
final class RunningServer {
    let data: String
    let process = Process()
    let output = Pipe()
    private(set) var port = 0
    /// What authd printed up to the line with its port.
    private(set) var startupOutput = ""
    /// Whether the data directory outlives this process (see ``kill()``).
    private(set) var keepsData: Bool

    /// `environment` is added to the caller's, from which every `AUTHLOG_` setting is removed.
    /// With `data`, it serves that directory (a node restarted after ``kill()``) and leaves it
    /// in place when it stops; otherwise a new temporary one, removed at the end.
    init(
        arguments: [String] = [], environment: [String: String] = [:], data given: String? = nil,
        prepare: (String) throws -> Void = { _ in }
    ) throws {
        data = given ?? NSTemporaryDirectory() + "authd-test-" + UUID().uuidString
        keepsData = given != nil
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try prepare(data)
        process.executableURL = products().appendingPathComponent("authd")
        process.arguments = ["--data", data, "--port", "0", "--min-password-length", "12"] + arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
            .merging(environment) { $1 }
        process.standardOutput = output
        process.standardError = output
        try process.run()
        ChildProcesses.atExit.adopt(process)
        let (port, text) = readListeningPort(output)
        self.port = port
        startupOutput = text
        guard port != 0 else { throw ServerError.didNotStart(text) }
    }

    enum ServerError: Error { case didNotStart(String) }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitForExit()
        }
        ChildProcesses.atExit.release(process)
        if !keepsData { try? FileManager.default.removeItem(atPath: data) }
    }

    /// Stops the process with SIGKILL (no chance to finish anything) and keeps its data
    /// directory for a restart; the caller removes it.
    func kill() {
        keepsData = true
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitForExit()
        ChildProcesses.atExit.release(process)
    }

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
        var code: String? { json["code"] as? String }
    }

    /// One request (``LoopbackRequest``) from the loopback address `source`, and its answer.
    func call(
        _ method: String, _ path: String, json: [String: Any]? = nil, raw: Data? = nil,
        contentType: String = "application/json",
        token: String? = nil, headers extra: [String: String] = [:], from source: String = "127.0.0.1"
    ) async throws -> Reply {
        var request = LoopbackRequest(
            method, path, body: try json.map { try JSONSerialization.data(withJSONObject: $0) })
        if let raw { request.body = raw }
        if request.body != nil { request.headers.append(("Content-Type", contentType)) }
        if let token { request.headers.append(("Authorization", "Bearer \(token)")) }
        for (name, value) in extra { request.headers.append((name, value)) }
        return try await request.send(port: port, from: source)
    }

    /// The token in the newest Maildir message to `recipient` whose subject contains `subject`.
    func mailedToken(_ subject: String, to recipient: String) throws -> String {
        let folder = data + "/maildir/new"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        for name in names.reversed() {
            let text = try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
            guard text.contains("Subject: \(subject)"), text.contains("\r\nTo: \(recipient)\r\n") else { continue }
            if let token = tokens(in: text).first { return token }
        }
        throw ServerError.didNotStart("no mail about \(subject)")
    }
}

/// Reads authd's output until it logs the address it bound: the port, or 0 if it ended
/// first or nothing said where within `timeout` seconds (a start that hangs fails the test
/// instead of hanging the run), and the text read. The caller stops a process still running.
func readListeningPort(_ output: Pipe, timeout: Double = 180) -> (port: Int, text: String) {
    let pattern = #"listening on 127\.0\.0\.1:(\d+)"#
    var text = ""
    let found = readOutput(
        output.fileHandleForReading.fileDescriptor, onto: &text,
        until: { $0.range(of: pattern, options: .regularExpression) != nil },
        deadline: Date().addingTimeInterval(timeout))
    guard let found else { return (0, text + "\n(no listening address logged within \(Int(timeout)) s)") }
    guard found, let range = text.range(of: pattern, options: .regularExpression) else { return (0, text) }
    return (Int(text[range].split(separator: ":").last!) ?? 0, text)
}

/// Reads `descriptor` onto `text` until `done(text)`: true once it is, false if the output
/// ended first, nil if `deadline` passed first.
func readOutput(
    _ descriptor: Int32, onto text: inout String, until done: (String) -> Bool, deadline: Date
) -> Bool? {
    var buffer = [UInt8](repeating: 0, count: 4_096)
    while !done(text) {
        guard let count = readPolling(descriptor, into: &buffer, until: deadline) else { return nil }
        guard count > 0 else { return false }
        text += String(decoding: buffer[0..<count], as: UTF8.self)
    }
    return true
}

/// The output authd has written so far (after it stopped: all of it).
extension RunningServer {
    func remainingOutput() -> String {
        String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }
}

/// An authctl process with `arguments`, in an environment without the caller's `AUTHLOG_` settings.
func authctlProcess(_ arguments: [String], environment: [String: String] = [:]) -> Process {
    let process = Process()
    process.executableURL = products().appendingPathComponent("authctl")
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        .merging(environment) { $1 }
    return process
}

/// Runs authctl and returns its standard output; `environment` is added to the caller's,
/// from which every `AUTHLOG_` setting is removed.
func authctlOutput(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
    let process = authctlProcess(arguments, environment: environment)
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitForExit()
    return String(decoding: data, as: UTF8.self)
}

/// Runs authctl against a data directory (before authd starts, or beside it).
@discardableResult
func authctl(_ arguments: [String], input: String? = nil) throws -> Int32 {
    let process = authctlProcess(arguments)
    let stdin = Pipe()
    process.standardInput = stdin
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    process.waitForExit()
    return process.terminationStatus
}

extension RunningServer {
    /// Reads authd's output until it contains `text` (``startupOutput`` first, then what
    /// follows); returns the output read, or nil if `timeout` seconds pass first or it ends.
    func awaitOutput(containing text: String, timeout: Double) -> String? {
        var read = startupOutput
        let found = readOutput(
            output.fileHandleForReading.fileDescriptor, onto: &read, until: { $0.contains(text) },
            deadline: Date().addingTimeInterval(timeout))
        return found == true ? read : nil
    }
}

extension RunningServer {
    /// The value of the counter or gauge `name` (no labels) in the server's `/metrics`.
    func metric(_ name: String) async throws -> Int {
        let metrics = String(decoding: try await call("GET", "/metrics").body, as: UTF8.self)
        let line = try #require(metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }, "no \(name)")
        return try #require(Int(line.split(separator: " ")[1]))
    }
}
