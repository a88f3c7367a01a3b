import AuthDomain
import EventLog
import Foundation
import Hummingbird
import Synchronization

/// `GET /admin/log` (ADMIN): the log's head (position, hash), its signed head, the users
/// projection's generation, checkpoint and lag behind the head, and the last verification run
/// from the console. `POST /admin/log/verify` runs one (the whole chain and its signed
/// checkpoints, as `authctl verify`), one at a time: a second while one runs is 503 with
/// Retry-After. A verification's result is kept in memory until authd stops.
extension AuthServer {
    func addConsoleLog(to router: Router<AuthRequestContext>, _ console: AdminConsole) {
        router.get("/admin/log") { request, _ in
            try await self.withConsoleCaller(request, console, adminOnly: true) { caller in
                try self.logPage(console, caller)
            }
        }
        router.post("/admin/log/verify") { request, _ in
            try await self.withConsoleCaller(request, console, adminOnly: true) { caller in
                _ = try await self.consoleForm(request, caller)
                guard console.verifying.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
                else {
                    var problem = Problem(.serviceUnavailable, "busy", "A verification is running; try again soon.")
                    problem.headers[.retryAfter] = "5"
                    throw problem
                }
                defer { console.verifying.store(false, ordering: .releasing) }
                let source = console.logSource
                let start = ContinuousClock.now
                let outcome = try await Task.detached { try source.verify() }.value
                let elapsed = ContinuousClock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let (intact, summary) = Self.summary(outcome)
                console.lastVerification.withLock {
                    $0 = .init(intact: intact, summary: summary, finishedAt: .now(), seconds: seconds)
                }
                return Self.consoleRedirect("/admin/log")
            }
        }
    }

    func logPage(_ console: AdminConsole, _ caller: ConsoleCaller) throws -> Response {
        let status = try console.logSource.status()
        var values: [String: Any] = [
            "csrf": caller.csrf, "location": status.location, "head_position": status.headPosition,
            "head_hash": status.headHash.description,
            "generation": status.projectionGeneration.map { String($0) } ?? "none (not built)",
            "checkpoint": status.projectionCheckpoint,
            "lag": status.headPosition > status.projectionCheckpoint
                ? status.headPosition - status.projectionCheckpoint : 0,
        ]
        if let signed = status.signedHead {
            values["signed"] = true
            values["signed_position"] = signed.position
            values["signed_hash"] = signed.hash.description
            values["signed_time"] = Self.consoleTime(signed.recordedAt)
        }
        if let key = status.publicKey { values["public_key"] = key }
        if let last = console.lastVerification.withLock({ $0 }) {
            values["verified"] = true
            values["verified_result"] = last.summary
            values["verified_time"] = Self.consoleTime(last.finishedAt)
            values["verified_seconds"] = String(format: "%.2f", last.seconds)
        }
        return consolePage(console, "log", title: "Log", values, caller: caller)
    }

    /// Whether the log verified, and what the page says of it.
    static func summary(_ outcome: LogVerification) -> (Bool, String) {
        switch outcome {
        case .signed(let count, let head, let intervals):
            return (
                true,
                "intact and signed: \(count) events through position \(head.position), \(intervals) interval checkpoints"
            )
        case .unsigned(let count, let through, _):
            return (true, "intact but not signed: \(count) events through position \(through)")
        case .broken(let failure):
            return (false, "BROKEN at \(failure.description)")
        }
    }
}
