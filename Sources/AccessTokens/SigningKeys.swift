import DataProtection
import EventLog
import Foundation
import Signatures
import Synchronization

/// The service's signing keys: `DATA/signing-keys`, mode 0600, one key a line as
/// `kid sealed base64url(sealed private key)` (an Ed25519 seed or a P-256 key in DER: see
/// ``TokenKey``, sealed under the data directory's ``FileSealingKey`` for its kid), or a list
/// another store holds (the shared database). The set has a signing algorithm (ES256
/// by default, or EdDSA): its last key of that algorithm signs; every key of either kind
/// verifies, so a rotation adds a key and old tokens stay valid until they expire.
///
/// A file from before keys were sealed holds `kid base64url(private key)` lines, in the
/// clear: reading refuses them, and ``sealKeysInTheClear(in:sealing:)`` seals them in place.
///
/// Keys given with a `reload` source (see ``init(keys:reload:minimumReloadInterval:)``) follow
/// that source: a token naming a kid this set does not know makes it read the source again,
/// at most once per interval, so that a key another node added verifies here without a
/// restart. After a reload the source's last key of the set's algorithm signs.
public final class SigningKeys: Sendable {
    /// One key: its id (the JWT `kid`) and its key.
    public typealias Entry = (kid: String, key: TokenKey)

    /// The key that signs, with its token header (``AccessTokenIssuer/encodedHeader(kid:algorithm:)``)
    /// encoded once, when the set is made or reloaded, rather than at every token.
    struct Signer: Sendable {
        let kid: String
        let key: TokenKey
        /// The JWS header naming this key, in base64url: the start of every token it signs.
        let encodedHeader: [UInt8]

        /// The last key of `algorithm` in `keys`, if there is one.
        init?(_ keys: [Entry], algorithm: TokenAlgorithm) {
            guard let entry = keys.last(where: { $0.key.algorithm == algorithm }) else { return nil }
            kid = entry.kid
            key = entry.key
            encodedHeader = AccessTokenIssuer.encodedHeader(kid: entry.kid, algorithm: algorithm)
        }
    }

    private struct State: Sendable {
        var keys: [Entry]
        /// Always the last key of the set's algorithm in `keys`: set with them.
        var signer: Signer
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
        guard let signer = Signer(keys, algorithm: algorithm) else {
            throw AccessTokenError.key("no \(algorithm.rawValue) access-token signing key")
        }
        self.algorithm = algorithm
        state = Mutex(State(keys: keys, signer: signer, lastReload: nil))
        self.reload = reload
        self.minimumReloadInterval = minimumReloadInterval
    }

    /// Loads the keys, adding one of `algorithm` (the file created 0600 if need be) when the
    /// file holds none of that algorithm: a data directory from before ES256, holding only
    /// Ed25519 keys, gets an ES256 key at its first start with the default algorithm. A key
    /// that does not open under `sealing`, or one in the clear, is an error naming its line.
    public convenience init(file: String, algorithm: TokenAlgorithm = .es256, sealing: FileSealingKey) throws {
        var keys = FileManager.default.fileExists(atPath: file) ? try Self.read(file, sealing: sealing) : []
        if !keys.contains(where: { $0.key.algorithm == algorithm }) {
            try Self.append(to: file, algorithm: algorithm, sealing: sealing)
            keys = try Self.read(file, sealing: sealing)
        }
        try self.init(keys: keys, algorithm: algorithm)
    }

    /// The word between a sealed line's kid and its key.
    static let sealedMark = "sealed"

    /// One line of a key file: its kid, the key's bytes as written (sealed or not), and
    /// whether they are sealed.
    private struct Line {
        /// Its number in the file, counting empty lines, as an editor shows it.
        var number: Int
        var kid: String
        var bytes: [UInt8]
        var sealed: Bool
    }

    /// The lines of a key file, in its order (a line ends at LF, CR LF or CR; empty lines
    /// skipped, but counted in the numbers errors name); malformed ones are an error naming
    /// the line. The file's bytes are wiped once parsed (the copy Foundation read them into
    /// is not); the caller wipes each line's `bytes`.
    private static func lines(_ file: String) throws -> [Line] {
        guard var text = FileManager.default.contents(atPath: file).map([UInt8].init) else {
            throw AccessTokenError.key("cannot read \(file)")
        }
        defer { text.withUnsafeMutableBytes { cleanse($0) } }
        var lines: [Line] = []
        var ranges: [Range<Int>] = []
        var start = 0
        var offset = 0
        while offset < text.count {
            guard text[offset] == 0x0A || text[offset] == 0x0D else {
                offset += 1
                continue
            }
            ranges.append(start..<offset)
            offset += text[offset] == 0x0D && offset + 1 < text.count && text[offset + 1] == 0x0A ? 2 : 1
            start = offset
        }
        if start < text.count { ranges.append(start..<text.count) }
        for (index, range) in ranges.enumerated() {
            let line = text[range]
            if line.isEmpty { continue }
            let fields = line.split(separator: UInt8(ascii: " "))
            let sealed = fields.count == 3 && fields[1].elementsEqual(sealedMark.utf8)
            guard fields.count == 2 || sealed, let kid = String(validating: fields[0], as: UTF8.self),
                let bytes = Base64URL.decode(String(decoding: fields[fields.count - 1], as: UTF8.self))
            else {
                throw AccessTokenError.key(
                    "\(file), line \(index + 1): expected 'kid \(sealedMark) base64url-sealed-private-key'")
            }
            lines.append(Line(number: index + 1, kid: kid, bytes: bytes, sealed: sealed))
        }
        return lines
    }

    /// The keys of a key file, in its order, opened under `sealing`.
    static func read(_ file: String, sealing: FileSealingKey) throws -> [Entry] {
        var lines = try lines(file)
        defer { for index in lines.indices { lines[index].bytes.withUnsafeMutableBytes { cleanse($0) } } }
        var keys: [Entry] = []
        for line in lines {
            guard line.sealed else {
                throw AccessTokenError.key(
                    "\(file), line \(line.number): a key in the clear, written before keys were sealed; start authd once to seal it"
                )
            }
            var bytes: [UInt8]
            do {
                bytes = try sealing.open(line.bytes, for: .accessTokenSigningKey(line.kid))
            } catch {
                throw AccessTokenError.key(
                    "\(file), line \(line.number): key \(line.kid) does not open with this data directory's key-encryption key (changed, or another directory's)"
                )
            }
            defer { bytes.withUnsafeMutableBytes { cleanse($0) } }
            do {
                keys.append((line.kid, try TokenKey(privateKey: bytes)))
            } catch {
                throw AccessTokenError.key("\(file), line \(line.number): \(error)")
            }
        }
        return keys
    }

    /// The line a key is written as: `kid sealed base64url(sealed key)`.
    static func sealedLine(kid: String, privateKey: [UInt8], sealing: FileSealingKey) throws -> [UInt8] {
        line(kid: kid, sealedKey: try sealing.seal(privateKey, for: .accessTokenSigningKey(kid)))
    }

    /// The line of a key already sealed.
    private static func line(kid: String, sealedKey: [UInt8]) -> [UInt8] {
        Array("\(kid) \(sealedMark) \(Base64URL.encode(sealedKey))\n".utf8)
    }

    /// Adds a new key of `algorithm`, sealed, at the end of the file (it signs from the next
    /// start on); the file is created with mode 0600, or set to 0600 if it exists. An existing
    /// file is appended to under its lock, as ``sealKeysInTheClear(in:sealing:)`` takes it, so
    /// the key lands in the file that sealing leaves. Returns its kid.
    @discardableResult
    public static func append(to file: String, algorithm: TokenAlgorithm = .es256, sealing: FileSealingKey) throws
        -> String
    {
        func appendKey() throws -> String {
            let key = try TokenKey.generate(algorithm)
            var bytes = key.privateKey ?? []
            defer { bytes.withUnsafeMutableBytes { cleanse($0) } }
            let kid = Base64URL.encode(key.publicKeyID)
            let line = try sealedLine(kid: kid, privateKey: bytes, sealing: sealing)
            // Created 0600 from its first byte (O_CREAT | O_EXCL semantics, see SecretFile).
            do { try SecretFile.append(file, contents: line) } catch { throw AccessTokenError.key("\(error)") }
            return kid
        }
        // No file: nothing to lock, and a file made at the same moment by another is appended to.
        guard FileManager.default.fileExists(atPath: file) else { return try appendKey() }
        return try SecretFile.withExclusiveLock(on: file) { try appendKey() }
    }

    /// What ``sealKeysInTheClear(in:sealing:)`` did.
    public struct SealingReport: Sendable, Equatable {
        /// Keys that were in the clear and are sealed now (0: the file was sealed already).
        public var sealed = 0
        /// Why the replaced file's bytes could not be overwritten with zeros (it was replaced
        /// all the same), or `nil` when they were, or there was nothing to seal.
        public var oldBytesNotOverwritten: String?
    }

    /// Seals every key a file from before sealed keys holds in the clear, holding an
    /// exclusive lock on the file (``SecretFile/withExclusiveLock(on:_:)``, as ``append(to:algorithm:sealing:)``
    /// does): the file is replaced whole, every line in its order, and the old file's bytes
    /// are overwritten with zeros (``SecretFile/replaceOverwritingOld(_:contents:)``, whose
    /// rules say when they cannot be). A key in the clear that is not a key is an error naming
    /// its line, and nothing is written. No file: nothing to seal.
    public static func sealKeysInTheClear(in file: String, sealing: FileSealingKey) throws -> SealingReport {
        guard FileManager.default.fileExists(atPath: file) else { return SealingReport() }
        // A sealed file is left alone, unlocked: nothing to do, and a link to one still opens.
        var lines = try lines(file)
        defer { for index in lines.indices { lines[index].bytes.withUnsafeMutableBytes { cleanse($0) } } }
        guard lines.contains(where: { !$0.sealed }) else { return SealingReport() }
        return try SecretFile.withExclusiveLock(on: file) { try sealLocked(file, sealing: sealing) }
    }

    /// ``sealKeysInTheClear(in:sealing:)`` with the lock held.
    private static func sealLocked(_ file: String, sealing: FileSealingKey) throws -> SealingReport {
        var lines = try lines(file)
        defer { for index in lines.indices { lines[index].bytes.withUnsafeMutableBytes { cleanse($0) } } }
        guard lines.contains(where: { !$0.sealed }) else { return SealingReport() }
        var result = SealingReport()
        var image: [UInt8] = []
        defer { image.withUnsafeMutableBytes { cleanse($0) } }
        for line in lines {
            if line.sealed {
                image += Self.line(kid: line.kid, sealedKey: line.bytes)
                continue
            }
            do { _ = try TokenKey(privateKey: line.bytes) } catch {
                throw AccessTokenError.key("\(file), line \(line.number): \(error)")
            }
            image += try sealedLine(kid: line.kid, privateKey: line.bytes, sealing: sealing)
            result.sealed += 1
        }
        do {
            result.oldBytesNotOverwritten = try SecretFile.replaceOverwritingOld(file, contents: image)
        } catch { throw AccessTokenError.key("\(error)") }
        return result
    }

    /// The key that signs (the last of the set's algorithm), with its encoded header.
    var signer: Signer { state.withLock { $0.signer } }

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
        guard let fresh = try? reload(), let signer = Signer(fresh, algorithm: algorithm) else { return nil }
        state.withLock {
            $0.keys = fresh
            $0.signer = signer
        }
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
