import Foundation
import TestSupport
import Testing

#if os(Linux)
    /// authd makes ES256 nonces on a thread of its own that Linux runs only when the CPU would
    /// otherwise be idle (docs/architecture.md, "ES256 nonces made ahead of time"), and only
    /// when it signs ES256.
    @Suite(.ownThreads)
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

        /// `--es256-nonces-ahead off`, for a process whose memory may be copied and run twice:
        /// no nonce is made ahead, and every signature makes its own.
        @Test func noNoncesAreMadeAheadWhenTurnedOff() async throws {
            let server = try RunningServer(arguments: ["--es256-nonces-ahead", "off"])
            #expect(try await server.call("GET", "/healthz").status == 200)
            #expect(try Self.policies(of: server.process.processIdentifier, named: "p256-nonces").isEmpty)
            let metrics = String(decoding: try await server.call("GET", "/metrics").body, as: UTF8.self)
            #expect(metrics.contains("authlog_es256_nonces_ready 0\n"))
            let refused = try runProcess(
                products().appendingPathComponent("authd"),
                ["--data", server.data + "-unused", "--port", "0", "--es256-nonces-ahead", "maybe"],
                environment: cleanEnvironment([:]))
            #expect(refused.status == 64 && refused.stderr.contains("--es256-nonces-ahead must be on or off"))
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
