import Foundation

/// An email address as a user gave it, and the key it is looked up and kept unique by.
///
/// Rules: surrounding white space trimmed; Unicode NFC; at most 254 bytes of UTF-8; no control
/// characters; `local@domain` with a local part of 1 to 64 bytes and a domain of dot-separated
/// labels (letters, digits, hyphens; none starting or ending with a hyphen), at least two.
/// The lookup key is the address lower-cased: `Alice@Example.com` and `alice@example.com`
/// are one account, shown as first given.
public struct EmailAddress: Hashable, Sendable {
    /// As given, trimmed and NFC-normalised: what the user sees.
    public let display: String
    /// Lower-cased `display`: what uniqueness and look-ups use.
    public let lookupKey: String

    public init(_ raw: String) throws(Rejection) {
        if Self.isPlainValidAddress(raw) {
            // Already trimmed, NFC and lower case: the full path would return it unchanged.
            self.init(display: raw, lookupKey: raw)
        } else {
            try self.init(validatingFully: raw)
        }
    }

    private init(display: String, lookupKey: String) {
        self.display = display
        self.lookupKey = lookupKey
    }

    /// The rules in full, through Foundation: for input the fast path does not settle.
    init(validatingFully raw: String) throws(Rejection) {
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
        guard !trimmed.isEmpty else { throw .invalidEmail("it is empty") }
        guard trimmed.utf8.count <= 254 else { throw .invalidEmail("it is longer than 254 bytes") }
        guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidEmail("it contains control characters")
        }
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .invalidEmail("it needs exactly one @") }
        let local = parts[0]
        let domain = parts[1]
        guard !local.isEmpty, local.utf8.count <= 64 else {
            throw .invalidEmail("the part before @ must be 1 to 64 bytes")
        }
        guard !local.hasPrefix("."), !local.hasSuffix("."), !local.contains("..") else {
            throw .invalidEmail("the part before @ has a misplaced dot")
        }
        guard !local.contains(where: { $0.isWhitespace || "\"(),:;<>[\\]".contains($0) }) else {
            throw .invalidEmail("the part before @ has a character that needs quoting")
        }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { throw .invalidEmail("the domain needs a dot") }
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63, !label.hasPrefix("-"), !label.hasSuffix("-"),
                label.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" })
            else { throw .invalidEmail("the domain is not a valid host name") }
        }
        guard labels.last!.contains(where: { $0.isLetter }) else {
            throw .invalidEmail("the domain is not a valid host name")
        }
        self.init(display: trimmed, lookupKey: trimmed.lowercased())
    }

    /// What the uniqueness index holds: SHA-256 of the lookup key, so no address sits there in clear.
    public var claimKey: [UInt8] { claimHash.bytes }

    /// ``claimKey`` held inline, for callers that key their own tables by it.
    public var claimHash: TokenHash { TokenHash(of: lookupKey.utf8) }

    /// The scope of email claims in the log's uniqueness index.
    public static let claimScope = "email"
}
