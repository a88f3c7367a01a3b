import DataProtection
import EventLog
import Foundation
import Signatures

/// The service's signing keys: `DATA/signing-keys`, mode 0600, one key a line as
/// `kid base64url(private key)`. The last line signs; every line verifies, so a rotation adds
/// a line and old tokens stay valid until they expire.
public final class SigningKeys: Sendable {
    let keys: [(kid: String, key: Ed25519Key)]

    /// Loads the keys, generating the first one (0600) if the file does not exist.
    public init(file: String) throws {
        if !FileManager.default.fileExists(atPath: file) {
            try Self.append(to: file)
        }
        let text = try String(contentsOfFile: file, encoding: .utf8)
        var keys: [(String, Ed25519Key)] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let bytes = Base64URL.decode(fields[1]) else {
                throw AccessTokenError.key("\(file), line \(index + 1): expected 'kid base64url-private-key'")
            }
            keys.append((String(fields[0]), try Ed25519Key(privateKey: bytes)))
        }
        guard !keys.isEmpty else { throw AccessTokenError.key("\(file) holds no key") }
        self.keys = keys
    }

    /// Adds a new key at the end of the file (it signs from the next start on); the file is
    /// created with mode 0600, or set to 0600 if it exists.
    public static func append(to file: String) throws {
        var bytes = [UInt8](repeating: 0, count: 32)
        let key = try Ed25519Key.generate()
        bytes = key.privateKey ?? bytes
        let kid = Base64URL.encode(key.publicKey.prefix(12))
        var line = Array("\(kid) \(Base64URL.encode(bytes))\n".utf8)
        defer {
            bytes.withUnsafeMutableBytes { cleanse($0) }
            line.withUnsafeMutableBytes { cleanse($0) }
        }
        // Created 0600 from its first byte (O_CREAT | O_EXCL semantics, see SecretFile).
        do { try SecretFile.append(file, contents: line) } catch { throw AccessTokenError.key("\(error)") }
    }

    var active: (String, Ed25519Key) { keys[keys.count - 1] }

    func key(for kid: String) -> Ed25519Key? {
        keys.last { $0.kid == kid }?.key
    }

    /// The public keys as a JWK Set (RFC 7517, OKP keys per RFC 8037).
    public var jwks: [String: Any] {
        [
            "keys": keys.map {
                [
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": $0.kid,
                    "x": Base64URL.encode($0.key.publicKey),
                ]
            }
        ]
    }
}
