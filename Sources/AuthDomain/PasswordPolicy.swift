import Foundation

/// What passwords are accepted, after NIST SP 800-63B-4: length and a blocklist, no
/// composition rules.
///
/// A password is NFC-normalised, then counted in Unicode scalars: at least
/// ``minimumLength`` (15 by default, configurable from 8 to 64) and at most 256 (so 64 is
/// always accepted). It is refused if, compared case-insensitively, it is one of the
/// 30,000 most common passwords.
public struct PasswordPolicy: Sendable {
    public let minimumLength: Int
    public static let maximumLength = 256
    let blocklist: CommonPasswords

    public init(minimumLength: Int = 15, blocklist: CommonPasswords = .bundled) throws(Rejection) {
        guard (8...64).contains(minimumLength) else {
            throw .invalidField(field: "minimum password length", reason: "must be 8 to 64, got \(minimumLength)")
        }
        self.minimumLength = minimumLength
        self.blocklist = blocklist
    }

    /// A password as it is hashed and as it is checked: NFC, so that "é" typed as one scalar
    /// or as "e" and a combining accent is the same password. Registration, login, password
    /// change and reset all go through this; nothing else is done to it (no trimming, no
    /// case folding).
    public static func normalized(_ password: String) -> String {
        password.precomposedStringWithCanonicalMapping
    }

    /// The normalised password (``normalized(_:)``), or why it is refused.
    public func check(_ password: String) throws(Rejection) -> String {
        let normalized = Self.normalized(password)
        let length = normalized.unicodeScalars.count
        if length < minimumLength {
            throw .weakPassword("it must be at least \(minimumLength) characters long (it has \(length))")
        }
        if length > Self.maximumLength {
            throw .weakPassword("it must be at most \(Self.maximumLength) characters long (it has \(length))")
        }
        if blocklist.contains(normalized) {
            throw .weakPassword("it is on the list of the 30,000 most common passwords; choose another")
        }
        return normalized
    }
}

/// The common-password blocklist: one password a line, compared lower-cased.
public struct CommonPasswords: Sendable {
    let entries: Set<String>

    public init(lines text: String) {
        entries = Set(
            text.split(whereSeparator: \.isNewline).map { $0.precomposedStringWithCanonicalMapping.lowercased() })
    }

    public func contains(_ password: String) -> Bool {
        entries.contains(password.precomposedStringWithCanonicalMapping.lowercased())
    }

    public var count: Int { entries.count }

    /// The list shipped with Authlog (zxcvbn's 30,000 most common passwords, MIT licence).
    public static let bundled: CommonPasswords = {
        guard let url = Bundle.module.url(forResource: "common-passwords", withExtension: "txt"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { fatalError("the common-password list is missing from the AuthDomain resources") }
        return CommonPasswords(lines: text)
    }()
}
