import AuthDomain
import DataProtection
import EventLog
import Foundation
import PasswordHashing
import Synchronization

/// The service credentials of a data directory, in `DATA/credentials/`: a 0700 directory with
/// one `ID.json` per credential (0600 from its first byte), written by `authctl credentials`
/// to a temporary name, synced and renamed, so a reader sees each file whole or not at all.
///
/// Rules:
/// - a file holds the credential's id, name, scopes, times and the SHA-256 of its secret:
///   never the secret, which ``add(name:scopes:)`` returns once;
/// - a revocation rewrites the file with `revoked_at`; the record stays for the audit;
/// - authd keeps the credentials in memory, by the digest of their secret, and looks at the
///   files again when they change: each lookup stats the directory (a new or renamed file
///   changes its modification time) and the one file it found (a rewrite gives it a new
///   inode), so a revocation counts from the next request, without a restart;
/// - an unknown secret costs a directory stat and a dictionary look-up; the directory is
///   read again for one at most once a second unless it changed.
public final class CredentialStore: ServiceCredentials, Sendable {
    public let directory: String

    public init(dataDirectory: String) {
        directory = dataDirectory + "/credentials"
    }

    public enum StoreError: Error, CustomStringConvertible {
        case invalidName(String)
        case noSuchCredential(String)
        case unreadable(String)

        public var description: String {
            switch self {
            case .invalidName(let name):
                return "invalid credential name \"\(name)\": 1 to 64 letters, digits, '.', '_' or '-'"
            case .noSuchCredential(let id): return "no credential \(id)"
            case .unreadable(let detail): return detail
            }
        }
    }

    // MARK: Administration (authctl)

    /// Makes a credential; returns it with its secret, which is stored nowhere.
    public func add(name: String, scopes: Set<CredentialScope>) throws -> (ServiceCredential, secret: String) {
        guard ServiceCredential.validName(name) else { throw StoreError.invalidName(name) }
        let secret =
            ServiceCredential.secretPrefix + Base64URL.encode(try SecureBytes.random(ServiceCredential.secretBytes))
        let credential = ServiceCredential(
            id: UUID(), name: name, scopes: scopes, secretHash: TokenHash(of: Array(secret.utf8)),
            createdAt: ISO8601DateFormatter().string(from: Date()))
        try SecretFile.makeDirectory(directory)
        try write(credential)
        return (credential, secret)
    }

    /// Every credential, revoked ones too, oldest first.
    public func list() throws -> [ServiceCredential] {
        try read().map(\.credential).sorted { ($0.createdAt, $0.id.uuidString) < ($1.createdAt, $1.id.uuidString) }
    }

    /// Revokes a credential (by its id): refused from the next request on. Revoking a revoked
    /// credential changes nothing.
    @discardableResult
    public func revoke(_ id: String) throws -> ServiceCredential {
        guard let uuid = UUID(text: id), var credential = try load(path(uuid))?.credential else {
            throw StoreError.noSuchCredential(id)
        }
        guard credential.revokedAt == nil else { return credential }
        credential.revokedAt = ISO8601DateFormatter().string(from: Date())
        try write(credential)
        return credential
    }

    // MARK: Look-up (authd)

    public func credential(presenting secret: String) throws -> ServiceCredential? {
        guard ServiceCredential.looksLikeSecret(secret) else { return nil }
        let digest = TokenHash(of: Array(secret.utf8))
        let folder = FileStamp(path: directory)
        let now = ContinuousClock.now
        var found: Entry? = cache.withLock { $0.folder == folder ? $0.byDigest[digest] : nil }
        if found == nil {
            let rescan = cache.withLock { cache in
                cache.folder != folder || cache.scannedAt.map { now - $0 >= .seconds(1) } ?? true
            }
            guard rescan else { return nil }
            let entries = try read()
            cache.withLock { cache in
                cache.folder = folder
                cache.scannedAt = now
                cache.byDigest = Dictionary(entries.map { ($0.credential.secretHash, $0) }) { first, _ in first }
            }
            found = cache.withLock { $0.byDigest[digest] }
        }
        guard var entry = found else { return nil }
        // The file again: a revocation rewrote it, or it was removed.
        let file = path(entry.credential.id)
        let stamp = FileStamp(path: file)
        if stamp != entry.stamp {
            guard stamp != nil, let fresh = try load(file), fresh.credential.secretHash == digest else {
                cache.withLock { _ = $0.byDigest.removeValue(forKey: digest) }
                return nil
            }
            entry = fresh
            cache.withLock { $0.byDigest[digest] = fresh }
        }
        return entry.credential.isRevoked ? nil : entry.credential
    }

    private struct Entry: Sendable {
        var credential: ServiceCredential
        var stamp: FileStamp?
    }

    private struct Cache: Sendable {
        var folder: FileStamp?
        var scannedAt: ContinuousClock.Instant?
        var byDigest: [TokenHash: Entry] = [:]
    }

    private let cache = Mutex(Cache())

    // MARK: Files

    func path(_ id: UUID) -> String { "\(directory)/\(id.uuidString.lowercased()).json" }

    private func read() throws -> [Entry] {
        guard FileManager.default.fileExists(atPath: directory) else { return [] }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        return try names.filter { $0.hasSuffix(".json") && UUID(text: String($0.dropLast(5))) != nil }
            .compactMap { try load(directory + "/" + $0) }
    }

    /// The credential in `file`, with the file's stamp; `nil` if there is no such file.
    private func load(_ file: String) throws -> Entry? {
        let stamp = FileStamp(path: file)
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        let record: Record
        do { record = try JSONDecoder().decode(Record.self, from: data) } catch {
            throw StoreError.unreadable("\(file) is not a credential: \(error)")
        }
        guard let id = UUID(text: record.id), let hashBytes = Base64URL.decode(record.secretSHA256),
            let hash = TokenHash(bytes: hashBytes),
            let scopes = try? CredentialScope.parse(record.scopes.joined(separator: ","))
        else { throw StoreError.unreadable("\(file) is not a credential: a field is malformed") }
        let credential = ServiceCredential(
            id: id, name: record.name, scopes: scopes, secretHash: hash, createdAt: record.createdAt,
            revokedAt: record.revokedAt)
        return Entry(credential: credential, stamp: stamp)
    }

    /// Writes the credential's file, all at once (``SecretFile/replace(_:contents:)``).
    private func write(_ credential: ServiceCredential) throws {
        let record = Record(
            id: credential.id.uuidString.lowercased(), name: credential.name,
            scopes: credential.scopes.sorted().map(\.rawValue),
            secretSHA256: Base64URL.encode(credential.secretHash.bytes),
            createdAt: credential.createdAt, revokedAt: credential.revokedAt)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try SecretFile.replace(path(credential.id), contents: [UInt8](try encoder.encode(record)))
    }

    /// A credential's file; `secret_sha256` is the digest in base64url.
    private struct Record: Codable {
        var id: String
        var name: String
        var scopes: [String]
        var secretSHA256: String
        var createdAt: String
        var revokedAt: String?

        enum CodingKeys: String, CodingKey {
            case id, name, scopes
            case secretSHA256 = "secret_sha256"
            case createdAt = "created_at"
            case revokedAt = "revoked_at"
        }
    }
}

/// What tells that a file or directory changed: its inode (a rename puts a new one in
/// place), size and modification time to the nanosecond.
struct FileStamp: Hashable, Sendable {
    var inode: UInt64
    var size: Int64
    var seconds: Int
    var nanoseconds: Int

    /// The stamp of `path`, or `nil` if there is nothing there.
    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        #if os(Linux)
            seconds = Int(info.st_mtim.tv_sec)
            nanoseconds = Int(info.st_mtim.tv_nsec)
        #else
            seconds = Int(info.st_mtimespec.tv_sec)
            nanoseconds = Int(info.st_mtimespec.tv_nsec)
        #endif
    }
}
