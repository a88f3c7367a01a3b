import EventLog
import Foundation

/// Creates a user. The role is always TARGET: registration never takes a role from input.
/// The handler validates the form and hashes the password before deciding.
public struct Register: UserCommand {
    public var email: EmailAddress
    public var passwordHash: String
    public var firstName: String
    public var lastName: String
    public var phone: String?
    /// The email verification token issued with the account.
    public var verificationTokenHash: TokenHash
    public var policy: AuthPolicy

    public init(
        email: EmailAddress, passwordHash: String, firstName: String, lastName: String, phone: String?,
        verificationTokenHash: TokenHash, policy: AuthPolicy = AuthPolicy()
    ) {
        self.email = email
        self.passwordHash = passwordHash
        self.firstName = firstName
        self.lastName = lastName
        self.phone = phone
        self.verificationTokenHash = verificationTokenHash
        self.policy = policy
    }

    public func decide(_ state: UserState, now: Timestamp) -> Decision {
        guard !state.exists else { return .reject(.emailTaken) }
        let expires = now.adding(microseconds: policy.verificationTokenLifetime)
        return .accept([
            .registered(
                .init(
                    email: email.display, passwordHash: passwordHash, firstName: firstName, lastName: lastName,
                    phone: phone, role: .target)),
            .emailVerificationRequested(.init(tokenHash: verificationTokenHash, expiresAt: expires)),
        ])
    }
}

/// Checks of the free-text profile fields, shared by registration and profile updates.
public enum ProfileField {
    /// A name: 1 to 100 characters after trimming, no control characters.
    public static func name(_ raw: String, field: String) throws(Rejection) -> String {
        let value = raw.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
        guard !value.isEmpty else { throw .invalidField(field: field, reason: "must not be empty") }
        guard value.count <= 100 else { throw .invalidField(field: field, reason: "must be at most 100 characters") }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidField(field: field, reason: "must not contain control characters")
        }
        return value
    }

    /// A phone number: `+`, digits, spaces, dots, dashes and brackets, 4 to 32 characters,
    /// at least 4 digits. Empty means none.
    public static func phone(_ raw: String) throws(Rejection) -> String? {
        let value = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if value.isEmpty { return nil }
        guard value.count <= 32, value.allSatisfy({ $0.isASCII && ($0.isNumber || " +-.()".contains($0)) }),
            value.filter(\.isNumber).count >= 4
        else { throw .invalidField(field: "phone", reason: "must be 4 to 32 digits, spaces or + - . ( )") }
        return value
    }
}
