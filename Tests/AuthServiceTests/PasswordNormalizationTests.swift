import AuthDomain
import AuthService
import Foundation
import TestSupport
import Testing

/// Passwords are compared in NFC wherever they are typed: a password is the same whether an
/// accent came as one scalar or as a letter and a combining mark.
@Suite(.ownThreads) struct PasswordNormalizationTests {
    let decomposed = "cafe\u{0301} au lait, bien chaud"
    var composed: String { decomposed.precomposedStringWithCanonicalMapping }

    @Test func changingAPasswordTakesTheCurrentOneInEitherForm() async throws {
        #expect(Array(decomposed.utf8) != Array(composed.utf8))
        for current in [decomposed, composed] {
            let harness = try Harness()
            let user = try await harness.register(password: decomposed)
            let newPassword = "cre\u{0300}me bru\u{0302}le\u{0301}e, encore"
            try await harness.service.changePassword(
                userID: user.id, actor: .user(user.id, .target), currentPassword: harness.secret(current),
                newPassword: harness.secret(newPassword), correlationID: "t")
            _ = try await harness.login(password: newPassword.precomposedStringWithCanonicalMapping)
            _ = try await harness.login(password: newPassword)
            try harness.finish()
        }
    }

    @Test func loginTakesEitherForm() async throws {
        let harness = try Harness()
        _ = try await harness.register(password: decomposed)
        _ = try await harness.login(password: decomposed)
        _ = try await harness.login(password: composed)
        try harness.finish()
    }
}
