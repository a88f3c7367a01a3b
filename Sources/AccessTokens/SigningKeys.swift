import DataProtection
import EventLog
import Foundation
import Signatures
import Synchronization

/// The service's signing keys: `DATA/signing-keys`, mode 0600, one key a line as
/// `kid base64url(private key)` (an Ed25519 seed or a P-256 key in DER: see ``TokenKey``), or
/// a list another store holds (the shared database). The set has a signing algorithm (ES256
/// by default, or EdDSA): its last key of that algorithm signs; every key of either kind
/// verifies, so a rotation adds a key and old tokens stay valid until they expire.
///
/// Keys given with a `reload` source (see ``init(keys:reload:minimumReloadInterval:)``) follow
/// that source: a token naming a kid this set does not know makes it read the source again,
/// at most once per interval, so that a key another node added verifies here without a
/// restart. After a reload the source's last key signs.
public final class SigningKeys: Sendable {
    /// One key: its id (the JWT `kid`) and its key.
    public typealias Entry = (kid: String, key: TokenKey)

    private struct State: @unchecked Sendable {
        var keys: [Entry]
        /// When the source was last read (`nil`: not since the start).
        var lastReload: ContinuousClock.Instant?
    }

    private let state: Mutex<State>
    /// The algorithm new tokens are signed with.
    public let algorithm: TokenAlgorithm
    private let reload: (@Sendable () throws -> [Entry])?
    private let minimumReloadInterval: Duration

    var keys: [Entry] { state.withLock { $0.keys } }

    /// Keys from a list (the last of `algorithm` signs; there must be one); `reload`, if
    /// given, reads the current list from their source again when a token names an unknown
    /// kid, at most once per `minimumReloadInterval`. A failed reload, or one without a key of
    /// `algorithm`, keeps the keys held.
    public init(
        keys: [Entry], algorithm: TokenAlgorithm = .es256, reload: (@Sendable () throws -> [Entry])? = nil,
        minimumReloadInterval: Duration = .seconds(1)
    ) throws {
        guard keys.contains(where: { $0.key.algorithm == algorithm }) else {
            throw AccessTokenError.key("no \(algorithm.rawValue) access-token signing key")
        }
        self.algorithm = algorithm
        state = Mutex(State(keys: keys, lastReload: nil))
        self.reload = reload
        self.minimumReloadInterval = minimumReloadInterval
    }

    /// Loads the keys, adding one of `algorithm` (the file created 0600 if need be) when the
    /// file holds none of that algorithm: a data directory from before ES256, holding only
    /// Ed25519 keys, gets an ES256 key at its first start with the default algorithm.
    public convenience init(file: String, algorithm: TokenAlgorithm = .es256) throws {
        var keys = FileManager.default.fileExists(atPath: file) ? try Self.read(file) : []
        if !keys.contains(where: { $0.key.algorithm == algorithm }) {
            try Self.append(to: file, algorithm: algorithm)
            keys = try Self.read(file)
        }
        try self.init(keys: keys, algorithm: algorithm)
    }

    /// The keys of a key file, in its order.
    static func read(_ file: String) throws -> [Entry] {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        var keys: [Entry] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(separator: " ")
            guard fields.count == 2, var bytes = Base64URL.decode(fields[1]) else {
                throw AccessTokenError.key("\(file), line \(index + 1): expected 'kid base64url-private-key'")
            }
            defer { bytes.withUnsafeMutableBytes { cleanse($0) } }
            do {
                keys.append((String(fields[0]), try TokenKey(privateKey: bytes)))
            } catch {
                throw AccessTokenError.key("\(file), line \(index + 1): \(error)")
            }
        }
        return keys
    }

    /// Adds a new key of `algorithm` at the end of the file (it signs from the next start
    /// on); the file is created with mode 0600, or set to 0600 if it exists. Returns its kid.
    @discardableResult
    public static func append(to file: String, algorithm: TokenAlgorithm = .es256) throws -> String {
        let key = try TokenKey.generate(algorithm)
        var bytes = key.privateKey ?? []
        let kid = Base64URL.encode(key.publicKeyID)
        var line = Array("\(kid) \(Base64URL.encode(bytes))\n".utf8)
        defer {
            bytes.withUnsafeMutableBytes { cleanse($0) }
            line.withUnsafeMutableBytes { cleanse($0) }
        }
        // Created 0600 from its first byte (O_CREAT | O_EXCL semantics, see SecretFile).
        do { try SecretFile.append(file, contents: line) } catch { throw AccessTokenError.key("\(error)") }
        return kid
    }

    /// The key that signs: the last of the set's algorithm.
    var active: Entry {
        let keys = keys
        // The initialiser and every reload keep one of the algorithm in the set.
        return keys.last { $0.key.algorithm == algorithm }!
    }

    /// The algorithms of the keys held, the signing one first: what tokens that verify may use.
    public var algorithms: [TokenAlgorithm] {
        let held = Set(keys.map(\.key.algorithm))
        return [algorithm] + TokenAlgorithm.allCases.filter { $0 != algorithm && held.contains($0) }
    }

    /// The key named `kid`; one this set does not hold makes it reload its source first (see
    /// the type's rules), so this may block for one read of the source.
    func key(for kid: String) -> TokenKey? {
        if let key = keys.last(where: { $0.kid == kid })?.key { return key }
        guard let reload, claimReload() else { return nil }
        guard let fresh = try? reload(), fresh.contains(where: { $0.key.algorithm == algorithm }) else { return nil }
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

    /// The public keys as a JWK Set (RFC 7517): EC keys per RFC 7518 section 6.2, OKP keys
    /// per RFC 8037; each with its `alg`, `use: sig` and `kid`.
    public var jwks: [String: Any] {
        [
            "keys": keys.map { entry -> [String: String] in
                switch entry.key {
                case .ed25519(let key):
                    return [
                        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": entry.kid,
                        "x": Base64URL.encode(key.publicKey),
                    ]
                case .p256(let key):
                    return [
                        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": entry.kid,
                        "x": Base64URL.encode(key.x), "y": Base64URL.encode(key.y),
                    ]
                }
            }
        ]
    }
}
