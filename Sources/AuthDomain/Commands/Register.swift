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
    /// The most UTF-8 bytes a name may take: 100 characters of one 4-byte scalar each. A
    /// character can hold any number of combining marks, so a limit in characters alone
    /// bounds nothing.
    public static let maximumNameBytes = 400

    /// A name: after trimming and NFC, 1 to 100 characters and at most
    /// ``maximumNameBytes`` bytes of UTF-8, with no control characters (Cc), no line or
    /// paragraph separators (Zl, Zp) and no format characters (Cf: the bidi overrides and
    /// isolates U+202A–202E and U+2066–2069, the zero-width space, joiners and no-break
    /// space U+200B–200D and U+FEFF, the word joiner U+2060, soft hyphens...), which would let
    /// a name read differently from what it holds.
    public static func name(_ raw: String, field: String) throws(Rejection) -> String {
        guard raw.utf8.count <= 4 * maximumNameBytes else {
            throw .invalidField(field: field, reason: "must be at most \(maximumNameBytes) bytes of UTF-8")
        }
        let value = raw.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
        guard !value.isEmpty else { throw .invalidField(field: field, reason: "must not be empty") }
        guard value.utf8.count <= maximumNameBytes else {
            throw .invalidField(field: field, reason: "must be at most \(maximumNameBytes) bytes of UTF-8")
        }
        guard value.count <= 100 else { throw .invalidField(field: field, reason: "must be at most 100 characters") }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidField(field: field, reason: "must not contain control characters")
        }
        let invisible: Set<Unicode.GeneralCategory> = [.format, .lineSeparator, .paragraphSeparator]
        // Letters that draw nothing (Hangul fillers), the braille blank, and private-use
        // characters (no agreed glyph) hide a name as well as format characters do.
        let blank: Set<UInt32> = [0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800]
        guard
            !value.unicodeScalars.contains(where: {
                invisible.contains($0.properties.generalCategory) || blank.contains($0.value)
                    || $0.properties.generalCategory == .privateUse
            })
        else {
            throw .invalidField(
                field: field, reason: "must not contain bidi-override, zero-width or other invisible format characters")
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
