import Foundation

/// A PostgreSQL server of a test's own (tools/postgres/start-throwaway.sh), for a test that
/// restarts or stops it: the shared test server must stay up for the others.
public final class ThrowawayPostgres {
    public let directory: String
    public let url: String

    public init() throws {
        // The server runs as the postgres user when the tests run as root: its directory's
        // parents must let that user through.
        let parent = NSTemporaryDirectory() + "authlog-pg-" + UUID().uuidString
        try FileManager.default.createDirectory(
            atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        directory = parent + "/server"
        url = try Self.script("start-throwaway.sh", [directory]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        _ = try? Self.script("stop-throwaway.sh", [directory])
        try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent)
    }

    /// Restarts the server on the same port: `immediate` as a crash would (recovery from the
    /// write-ahead log), else a clean shutdown first.
    public func restart(immediate: Bool = true) throws {
        _ = try Self.script("restart-throwaway.sh", [directory, immediate ? "immediate" : "fast"])
    }

    /// The repository's tools/postgres directory, found from this file's place in it.
    static let tools = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/postgres")

    struct ScriptFailed: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs one of the scripts to its end with `posix_spawn` and `waitpid`: Foundation's
    /// `Process.waitUntilExit` can miss the exit of a script whose children outlive it (the
    /// server it starts), and then waits for ever.
    static func script(_ name: String, _ arguments: [String]) throws -> String {
        let output = NSTemporaryDirectory() + "authlog-script-" + UUID().uuidString
        defer {
            try? FileManager.default.removeItem(atPath: output + ".out")
            try? FileManager.default.removeItem(atPath: output + ".err")
        }
        let quoted = ([tools.appendingPathComponent(name).path] + arguments).map { "'" + $0 + "'" }.joined(
            separator: " ")
        let command = "\(quoted) </dev/null >'\(output).out' 2>'\(output).err'"
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] =
            ["/bin/sh", "-c", command].map { (text: String) in strdup(text) } + [nil]
        defer { for argument in argv { free(argument) } }
        // Descriptors the test process has open without close-on-exec (its sockets, pipes)
        // are closed in the script: the server it starts inherited them, and PostgreSQL
        // refused to start when they left it fewer than it needs ("System allows 47").
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // glibc's posix_spawn_file_actions_addclosefrom_np (2.34), which Swift does not import.
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let closeFrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
            throw ScriptFailed(description: "cannot run \(name): this C library cannot close descriptors at a spawn")
        }
        guard unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3) == 0 else {
            throw ScriptFailed(description: "cannot run \(name): cannot ask for descriptors to be closed")
        }
        let spawned = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ)
        guard spawned == 0 else { throw ScriptFailed(description: "cannot run \(name): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let stdout = (try? String(contentsOfFile: output + ".out", encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited, code == 0 else {
            throw ScriptFailed(description: "\(name) exited \(exited ? code : -1): \(stderr)")
        }
        return stdout
    }
}
