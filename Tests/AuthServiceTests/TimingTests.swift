import AuthDomain
import AuthService
import Dispatch
import EventLog
import Foundation
import PasswordHashing
import TestSupport
import Testing

@Suite(.ownThreads) struct TimingTests {
    /// An unknown email, a wrong password, and a wrong password for an account an older
    /// release locked must cost the same: each verifies a password at the current parameters
    /// (the unknown one against a dummy hash). 60 tries of each, interleaved so that load on
    /// the machine hits all alike; every median must be at least half the largest. The leak it
    /// guards against (an arm that skips the password hash) costs microseconds against the
    /// hash's tens of milliseconds, a ratio far below one half; a parallel CI run's load alone
    /// once moved honest medians to 0.78, so the bound is not tighter.
    ///
    /// Each wrong-password try is on the path that commits `LoginFailed`, and the test checks
    /// that it did: the tries are spread over 20 users (3 each, under any threshold a lock or
    /// a throttle could have), so no sample times a path that appends nothing. The locked
    /// user's stream holds a `LoginFailed` with `locked_until` a day ahead, as an older
    /// release recorded it; such a lock is not enforced, so that arm must commit too and
    /// cost the same.
    @Test func unknownEmailWrongPasswordAndALockedAccountTakeTheSameTime() async throws {
        let harness = try Harness(hasher: Argon2idHasher())
        var victims: [UUID] = []
        for index in 0..<20 { victims.append(try await harness.register("victim\(index)@example.com").id) }
        let locked = try await harness.register("locked@example.com").id
        let lock = UserEvent.loginFailed(
            .init(consecutiveFailures: 5, lockedUntil: harness.clock.now().adding(microseconds: 86_400_000_000)))
        _ = try await harness.log.append(
            [lock.newEvent(actor: .system, correlationID: "older release") { $0 }], to: locked,
            expecting: .exactly(UInt64(try harness.eventTypes(of: locked).count)))

        var samples: [[UInt64]] = [[], [], []]
        for index in 0..<60 {
            let arms = [
                ("nobody\(index)@example.com", nil), ("victim\(index % 20)@example.com", victims[index % 20]),
                ("locked@example.com", locked),
            ]
            for (arm, (email, id)) in arms.enumerated() {
                let before = try id.map { try harness.eventTypes(of: $0).count }
                let start = DispatchTime.now().uptimeNanoseconds
                await #expect(throws: Rejection.invalidCredentials) {
                    _ = try await harness.service.login(
                        email: email, password: "wrong horse battery staple", correlationID: "t")
                }
                samples[arm].append(DispatchTime.now().uptimeNanoseconds - start)
                if let id, let before {
                    let types = try harness.eventTypes(of: id)
                    #expect(types.count == before + 1 && types.last == "LoginFailed", "\(email): \(types.suffix(2))")
                }
            }
        }
        let medians = samples.map { $0.sorted()[$0.count / 2] }
        let ratio = Double(medians.min()!) / Double(medians.max()!)
        #expect(
            ratio >= 0.5,
            """
            medians: unknown \(medians[0] / 1_000) µs, wrong password \(medians[1] / 1_000) µs, \
            locked \(medians[2] / 1_000) µs
            """)
        try harness.finish()
    }
}
