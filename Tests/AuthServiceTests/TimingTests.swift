import AuthDomain
import AuthService
import Dispatch
import Foundation
import PasswordHashing
import Testing

@Suite struct TimingTests {
    /// An unknown email and a wrong password must cost the same: both verify a password at the
    /// current parameters (the unknown one against a dummy hash). 100 tries each, interleaved
    /// so that load on the machine hits both alike; the medians must be within 20 %.
    @Test func unknownEmailAndWrongPasswordTakeTheSameTime() async throws {
        let harness = try Harness(hasher: Argon2idHasher())
        _ = try await harness.register()
        var unknown: [UInt64] = []
        var wrong: [UInt64] = []
        for index in 0..<100 {
            for (email, into) in [("nobody\(index)@example.com", 0), ("alice@example.com", 1)] {
                let start = DispatchTime.now().uptimeNanoseconds
                await #expect(throws: Rejection.invalidCredentials) {
                    _ = try await harness.service.login(
                        email: email, password: "wrong horse battery staple", correlationID: "t")
                }
                let elapsed = DispatchTime.now().uptimeNanoseconds - start
                if into == 0 { unknown.append(elapsed) } else { wrong.append(elapsed) }
            }
        }
        let medians = [unknown, wrong].map { $0.sorted()[$0.count / 2] }
        let ratio = Double(medians.min()!) / Double(medians.max()!)
        #expect(ratio >= 0.8, "medians: unknown \(medians[0] / 1_000) µs, wrong password \(medians[1] / 1_000) µs")
        try harness.finish()
    }
}
