import Foundation
import Testing

#if os(Linux)
    /// authd makes ES256 nonces on a thread of its own that Linux runs only when the CPU would
    /// otherwise be idle (docs/architecture.md, "ES256 nonces made ahead of time"), and only
    /// when it signs ES256.
    @Suite
    struct NonceThreadTests {
        /// The scheduling policy of each thread of `pid` named `name` (field 41 of its stat file).
        static func policies(of pid: Int32, named name: String) throws -> [Int] {
            let tasks = "/proc/\(pid)/task"
            return try FileManager.default.contentsOfDirectory(atPath: tasks).compactMap { task in
                let comm = try? String(contentsOfFile: "\(tasks)/\(task)/comm", encoding: .utf8)
                guard comm?.trimmingCharacters(in: .newlines) == name else { return nil }
                let stat = try String(contentsOfFile: "\(tasks)/\(task)/stat", encoding: .utf8)
                // The name, in parentheses, may hold spaces: count fields after its ')'.
                let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...]
                    .split(separator: " ")
                return Int(fields[41 - 3])
            }
        }

        @Test func theNonceThreadRunsUnderSCHEDIDLE() async throws {
            let server = try RunningServer()
            #expect(try await server.call("GET", "/healthz").status == 200)
            // SCHED_IDLE is 5 (linux/sched.h).
            #expect(try Self.policies(of: server.process.processIdentifier, named: "p256-nonces") == [5])
        }

        @Test func anEdDSAServiceMakesNoNonces() async throws {
            let server = try RunningServer(arguments: ["--token-algorithm", "eddsa"])
            #expect(try await server.call("GET", "/healthz").status == 200)
            #expect(try Self.policies(of: server.process.processIdentifier, named: "p256-nonces").isEmpty)
            // The service's other threads are found by the same reading.
            #expect(try !Self.policies(of: server.process.processIdentifier, named: "log-writer").isEmpty)
        }
    }
#endif
