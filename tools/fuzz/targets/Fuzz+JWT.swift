import AccessTokens
import EventLog
import Foundation

/// Access tokens (``AccessTokenIssuer/verify(_:now:)``) against an issuer with two keys.
///
/// Two tokens are signed when the target starts, one by each key (fixed keys and claims, so
/// the committed seeds are these very tokens). Property: the only inputs that verify are
/// those two tokens, byte for byte: any other input, a valid token with any byte changed,
/// added or removed included, is refused.
enum FuzzJWT {
    static let now: Int64 = 1_800_000_000
    static let claims = AccessClaims(
        issuer: "authlog", audience: "authlog", subject: UUID(uuidString: "0193e0a1-0000-7000-8000-000000000001")!,
        role: "admin", sessionID: UUID(uuidString: "0193e0a1-0000-7000-8000-000000000002")!, issuedAt: now - 60,
        lifetime: 900, tokenID: "fuzz")

    /// The issuer that verifies, and the two tokens it accepts.
    static let (issuer, accepted): (AccessTokenIssuer, Set<String>) = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "authlog-fuzz-jwt-\(getpid())"
        ).path
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let old = "old " + Base64URL.encode([UInt8](repeating: 1, count: 32)) + "\n"
        let new = "new " + Base64URL.encode([UInt8](repeating: 2, count: 32)) + "\n"
        func issuer(_ lines: String, _ name: String) -> AccessTokenIssuer {
            let file = directory + "/" + name
            _ = FileManager.default.createFile(
                atPath: file, contents: Data(lines.utf8), attributes: [.posixPermissions: 0o600])
            return AccessTokenIssuer(
                issuer: "authlog", audience: "authlog", keys: try! SigningKeys(file: file, algorithm: .eddsa))
        }
        let both = issuer(old + new, "both")
        let tokens: Set<String> = [try! issuer(old, "old").sign(claims), try! both.sign(claims)]
        return (both, tokens)
    }()

    static func run(_ input: UnsafeRawBufferPointer) {
        guard let token = String(validating: input, as: UTF8.self) else { return }
        guard let verified = try? issuer.verify(token, now: now) else {
            require(!accepted.contains(token), "a token this issuer signed is refused")
            return
        }
        require(accepted.contains(token), "a token nobody signed verifies: \(token)")
        require(verified == claims, "the claims read back differ")
    }
}
