import AccessTokens
import EventLog
import Foundation
import Signatures

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
        let old: SigningKeys.Entry = ("old", try! TokenKey(privateKey: [UInt8](repeating: 1, count: 32)))
        let new: SigningKeys.Entry = ("new", try! TokenKey(privateKey: [UInt8](repeating: 2, count: 32)))
        func issuer(_ keys: [SigningKeys.Entry]) -> AccessTokenIssuer {
            AccessTokenIssuer(
                issuer: "authlog", audience: "authlog", keys: try! SigningKeys(keys: keys, algorithm: .eddsa))
        }
        let both = issuer([old, new])
        let tokens: Set<String> = [try! issuer([old]).sign(claims), try! both.sign(claims)]
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
