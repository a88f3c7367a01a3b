import DataProtection
import Foundation

/// Signatures as the Standard Webhooks scheme writes them (standardwebhooks.com): the secret
/// is `whsec_` followed by base64 of its bytes; a message is signed by
/// `v1,` + base64(HMAC-SHA256(secret bytes, "<webhook-id>.<webhook-timestamp>.<body>")).
public enum WebhookSignature {
    /// The secret's prefix.
    public static let secretPrefix = "whsec_"

    /// A new secret: 32 random bytes from the system's generator, as `whsec_<base64>`.
    public static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return secretPrefix + Data(bytes).base64EncodedString()
    }

    /// The secret's bytes, or `nil` when it is not `whsec_` and base64 of 24 to 64 bytes.
    public static func secretBytes(_ secret: String) -> [UInt8]? {
        guard secret.hasPrefix(secretPrefix), let data = Data(base64Encoded: String(secret.dropFirst(6))),
            (24...64).contains(data.count)
        else { return nil }
        return [UInt8](data)
    }

    /// The `webhook-signature` header's value for one message.
    public static func sign(id: String, timestamp: Int64, body: [UInt8], key: [UInt8]) -> String {
        let digest = hmacSHA256(key: key, Array("\(id).\(timestamp).".utf8) + body)
        return "v1," + Data(digest).base64EncodedString()
    }
}
