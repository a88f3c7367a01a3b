// Password hashing and login benchmark. Prints the time of one Argon2id and one scrypt hash at
// the default parameters, login throughput through the service with 100 concurrent logins
// (bounded by the hashing pool), peak memory, and the medians of unknown-email versus
// wrong-password logins.
//
// Usage: swift run -c release auth-bench
//        auth-bench --ceiling SECONDS   only the login ceiling, measured: one thread a core
//                                       hashing with Argon2id's defaults for SECONDS, then one
//                                       line "RESULT ok_per_s=... hashes=... cpu_s=..." (the peer
//                                       benchmark's `kdf` step; cpu_s: this process's CPU time)
import AuthDomain
import AuthService
import DataProtection
import Dispatch
import EventLog
import EventLogLMDB
import Foundation
import PasswordHashing
import Synchronization

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Peak resident memory of this process so far, in MiB (VmHWM).
func peakMemoryMiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1_024
}

let cores = ProcessInfo.processInfo.activeProcessorCount

let arguments = CommandLine.arguments
if arguments.count == 3, arguments[1] == "--ceiling", let duration = Double(arguments[2]), duration > 0 {
    let hasher = Argon2idHasher()
    let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(duration * 1e9)
    let counts = Mutex([Int](repeating: 0, count: cores))
    let start = DispatchTime.now().uptimeNanoseconds
    DispatchQueue.concurrentPerform(iterations: cores) { core in
        var done = 0
        while DispatchTime.now().uptimeNanoseconds < deadline {
            _ = try? hasher.hash("benchmark passphrase \(core) \(done)")
            done += 1
        }
        counts.withLock { $0[core] = done }
    }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let hashes = counts.withLock { $0.reduce(0, +) }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let cpu =
        Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    print(
        String(
            format: "RESULT ok_per_s=%.1f hashes=%d threads=%d cpu_s=%.2f", Double(hashes) / elapsed, hashes, cores, cpu
        ))
    exit(0)
}
print("auth-bench: \(cores) cores")

let argon = Argon2idHasher()
let argonTime = try await seconds { for index in 0..<20 { _ = try argon.hash("benchmark password \(index)") } } / 20
print(String(format: "argon2id m=19456,t=2,p=1 hash:   %7.1f ms", argonTime * 1_000))
print(String(format: "login ceiling (cores / argon2id): %6.0f logins/s", Double(cores) / argonTime))

let directory = NSTemporaryDirectory() + "auth-bench-" + UUID().uuidString
defer { try? FileManager.default.removeItem(atPath: directory) }
let log = try LMDBEventLog(directory: directory)
let pool = HashingPool()
let service = try AuthService(
    log: log, keys: try KeyStore(dataDirectory: directory, environment: [:]),
    configuration: .init(passwordPolicy: try PasswordPolicy()), pool: pool,
    mailer: try MaildirMailer(directory: directory + "/maildir"))
for index in 0..<10 {
    _ = try await service.register(
        .init(
            email: "user\(index)@example.com", password: "benchmark passphrase \(index)", firstName: "B", lastName: "M"),
        correlationID: "bench")
}
let memoryBefore = peakMemoryMiB()
let logins = 400
let loginTime = try await seconds {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<100 {
            group.addTask {
                for round in 0..<(logins / 100) {
                    let index = (worker + round) % 10
                    _ = try await service.login(
                        email: "user\(index)@example.com", password: "benchmark passphrase \(index)",
                        correlationID: "bench")
                }
            }
        }
        try await group.waitForAll()
    }
}
print(String(format: "login, 100 concurrent clients:    %6.0f logins/s", Double(logins) / loginTime))
print(
    "peak memory: \(memoryBefore) MiB before the logins, \(peakMemoryMiB()) MiB after (\(pool.threads) hashing threads)"
)

var unknown: [UInt64] = []
var wrong: [UInt64] = []
for index in 0..<100 {
    for (email, isUnknown) in [("nobody\(index)@example.com", true), ("user1@example.com", false)] {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try? await service.login(email: email, password: "not the passphrase", correlationID: "bench")
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        if isUnknown { unknown.append(elapsed) } else { wrong.append(elapsed) }
    }
}
let medians = [unknown, wrong].map { Double($0.sorted()[50]) / 1e6 }
print(String(format: "median login, unknown email:      %7.2f ms", medians[0]))
print(String(format: "median login, wrong password:     %7.2f ms", medians[1]))
// Last, as its 128 MiB would mask the peak memory of the logins above.
let scrypt = ScryptHasher()
let scryptTime = try await seconds { for index in 0..<3 { _ = try scrypt.hash("benchmark password \(index)") } } / 3
print(String(format: "scrypt ln=17,r=8,p=1 hash:       %7.1f ms", scryptTime * 1_000))
log.close()
pool.stop()
