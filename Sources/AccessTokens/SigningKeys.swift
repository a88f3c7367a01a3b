import DataProtection
import EventLog
import Foundation
import Signatures
import Synchronization

/// The service's signing keys: `DATA/signing-keys`, mode 0600, one key a line as
/// `kid base64url(private key)`, or a list another store holds (the shared database). The last
/// key signs; every key verifies, so a rotation adds a key and old tokens stay valid until
/// they expire.
///
/// Keys given with a `reload` source (see ``init(keys:reload:minimumReloadInterval:)``) follow
/// that source: a token naming a kid this set does not know makes it read the source again,
/// at most once per interval, so that a key another node added verifies here without a
/// restart. After a reload the source's last key signs.
public final class SigningKeys: Sendable {
    /// One key: its id (the JWT `kid`) and its Ed25519 key.
    public typealias Entry = (kid: String, key: Ed25519Key)

    private struct State: @unchecked Sendable {
        var keys: [Entry]
        /// When the source was last read (`nil`: not since the start).
        var lastReload: ContinuousClock.Instant?
    }

    private let state: Mutex<State>
    private let reload: (@Sendable () throws -> [Entry])?
    private let minimumReloadInterval: Duration

    var keys: [Entry] { state.withLock { $0.keys } }

    /// Keys from a list (the last signs); `reload`, if given, reads the current list from
    /// their source again when a token names an unknown kid, at most once per
    /// `minimumReloadInterval`. A failed or empty reload keeps the keys held.
    public init(
        keys: [Entry], reload: (@Sendable () throws -> [Entry])? = nil,
        minimumReloadInterval: Duration = .seconds(1)
    ) throws {
        guard !keys.isEmpty else { throw AccessTokenError.key("no access-token signing key") }
        state = Mutex(State(keys: keys, lastReload: nil))
        self.reload = reload
        self.minimumReloadInterval = minimumReloadInterval
    }

    /// Loads the keys, generating the first one (0600) if the file does not exist.
    public convenience init(file: String) throws {
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
        try self.init(keys: keys)
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

    var active: (String, Ed25519Key) {
        let keys = keys
        return keys[keys.count - 1]
    }

    /// The key named `kid`; one this set does not hold makes it reload its source first (see
    /// the type's rules), so this may block for one read of the source.
    func key(for kid: String) -> Ed25519Key? {
        if let key = keys.last(where: { $0.kid == kid })?.key { return key }
        guard let reload, claimReload() else { return nil }
        guard let fresh = try? reload(), !fresh.isEmpty else { return nil }
        state.withLock { $0.keys = fresh }
        return fresh.last { $0.kid == kid }?.key
    }

    /// Whether a reload may run now (none ran within the interval); records it if so.
    private func claimReload() -> Bool {
        let now = ContinuousClock.now
        return state.withLock { state in
            if let last = state.lastReload, now - last < minimumReloadInterval { return false }
            state.lastReload = now
            return true
        }
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
