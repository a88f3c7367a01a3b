import DataProtection
import Foundation

/// The webhook endpoints and their delivery state in `DATA/webhooks/`: a 0700 directory with
/// `ID.json` (the endpoint, with its secret sealed under the directory's ``FileSealingKey``:
/// 0600 from its first byte, written by authctl, and by authd only to seal a secret a file
/// from before held in the clear) and `ID.state` (``WebhookState``: 0600, written by authd
/// only). Every file is written to a temporary name, synced and renamed, so a reader sees it
/// whole or not at all. Writers of `ID.json` (add, remove, sealing) hold an exclusive
/// `flock` on the directory.
public struct WebhookStore: Sendable {
    public let directory: String

    public init(dataDirectory: String) {
        directory = dataDirectory + "/webhooks"
    }

    public enum StoreError: Error, CustomStringConvertible {
        case invalidURL(String)
        case unknownEventType(String)
        case noSuchEndpoint(String)
        case unreadable(String)

        public var description: String {
            switch self {
            case .invalidURL(let url): return "\(url) is not an http or https URL with a host"
            case .unknownEventType(let type): return "unknown event type \(type) (see docs/events.md, or *)"
            case .noSuchEndpoint(let id): return "no webhook endpoint \(id)"
            case .unreadable(let detail): return detail
            }
        }
    }

    /// Adds an endpoint, its new secret sealed under `sealing`; `knownTypes` are the event
    /// types that exist. Returns the endpoint and its secret, to be shown once.
    public func add(
        url: String, events: [String], knownTypes: Set<String>, startAfter: UInt64?, sealing: FileSealingKey
    ) throws -> (endpoint: WebhookEndpoint, secret: String) {
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
            parsed.host?.isEmpty == false
        else { throw StoreError.invalidURL(url) }
        guard !events.isEmpty else { throw StoreError.unknownEventType("(none given)") }
        for type in events where type != "*" && !knownTypes.contains(type) { throw StoreError.unknownEventType(type) }
        var generator = SystemRandomNumberGenerator()
        let id =
            "ep_"
            + (0..<12).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }
            .joined()
        let secret = WebhookSignature.newSecret()
        let endpoint = WebhookEndpoint(
            id: id, url: url, events: events,
            storedSecret: try WebhookEndpoint.sealed(secret, for: id, under: sealing),
            startAfter: startAfter, createdAt: ISO8601DateFormatter().string(from: Date()))
        try SecretFile.makeDirectory(directory)
        try SecretFile.withExclusiveLock(on: directory, followingLinks: true) {
            try write(try Self.encoder.encode(endpoint), to: path(id, "json"))
        }
        return (endpoint, secret)
    }

    /// What ``sealSecretsInTheClear(sealing:)`` did.
    public struct SealingReport: Sendable, Equatable {
        /// Endpoints whose secret was in the clear and is sealed now.
        public var sealed = 0
        /// Endpoints whose old file's bytes could not be overwritten with zeros, with why.
        public var oldBytesNotOverwritten: [String: String] = [:]
        /// Endpoints that could not be sealed, with why: their files are as they were, or, when
        /// the directory's sync failed after the rename, sealed but perhaps not yet on the disk.
        public var notSealed: [String: String] = [:]
        /// Temporary endpoint files a crash left (`ep_*.json.tmp-*`), overwritten and removed.
        public var leftoversRemoved = 0
    }

    /// Seals the secret of every endpoint whose file, written before secrets were sealed,
    /// holds it in the clear, holding the directory's exclusive lock (as ``add(url:events:knownTypes:startAfter:sealing:)``
    /// and ``remove(_:)`` do, so an endpoint removed meanwhile stays removed): the file is
    /// replaced whole and the old file's bytes are overwritten with zeros
    /// (``SecretFile/replaceOverwritingOld(_:contents:)``). Temporary endpoint files a crash
    /// left, which may hold a secret in the clear, are overwritten and removed. One endpoint
    /// that cannot be sealed does not stop the others; an endpoint file that cannot be read
    /// stops them all (an error, as for ``endpoints()``). Takes no lock when there is nothing
    /// to do.
    public func sealSecretsInTheClear(sealing: FileSealingKey) throws -> SealingReport {
        func leftovers() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: directory).filter {
                $0.hasPrefix("ep_") && $0.contains(".json.tmp-")
            }
        }
        func inTheClear() throws -> [WebhookEndpoint] {
            try endpoints().filter { if case .clear = $0.storedSecret { true } else { false } }
        }
        guard FileManager.default.fileExists(atPath: directory), try !leftovers().isEmpty || !inTheClear().isEmpty
        else { return SealingReport() }
        return try SecretFile.withExclusiveLock(on: directory, followingLinks: true) {
            var result = SealingReport()
            for name in try leftovers() {
                let descriptor = open(directory + "/" + name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
                guard descriptor >= 0 else { continue }
                _ = SecretFile.overwriteWithZeros(descriptor, keepingNames: 1)
                close(descriptor)
                if unlink(directory + "/" + name) == 0 { result.leftoversRemoved += 1 }
            }
            for endpoint in try inTheClear() {
                guard case .clear(let secret) = endpoint.storedSecret else { continue }
                do {
                    var sealed = endpoint
                    sealed.storedSecret = try WebhookEndpoint.sealed(secret, for: endpoint.id, under: sealing)
                    let image = [UInt8](try Self.encoder.encode(sealed))
                    if let reason = try SecretFile.replaceOverwritingOld(path(endpoint.id, "json"), contents: image) {
                        result.oldBytesNotOverwritten[endpoint.id] = reason
                    }
                    result.sealed += 1
                } catch {
                    result.notSealed[endpoint.id] = "\(error)"
                }
            }
            return result
        }
    }

    /// Every endpoint, by id.
    public func endpoints() throws -> [WebhookEndpoint] {
        guard FileManager.default.fileExists(atPath: directory) else { return [] }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        return try names.filter { $0.hasPrefix("ep_") && $0.hasSuffix(".json") }.sorted().compactMap {
            name -> WebhookEndpoint? in
            // Removed between the listing and the read: gone.
            guard let data = FileManager.default.contents(atPath: directory + "/" + name) else { return nil }
            do { return try JSONDecoder().decode(WebhookEndpoint.self, from: data) } catch {
                throw StoreError.unreadable("\(directory)/\(name) is not an endpoint: \(error)")
            }
        }
    }

    public func endpoint(_ id: String) throws -> WebhookEndpoint {
        guard let found = try endpoints().first(where: { $0.id == id }) else { throw StoreError.noSuchEndpoint(id) }
        return found
    }

    /// Removes an endpoint, its state and any temporary file of its state (a save cut short by
    /// a crash leaves one); deliveries to it stop.
    public func remove(_ id: String) throws {
        guard Self.isID(id), FileManager.default.fileExists(atPath: directory) else {
            throw StoreError.noSuchEndpoint(id)
        }
        try SecretFile.withExclusiveLock(on: directory, followingLinks: true) {
            guard unlink(path(id, "json")) == 0 else { throw StoreError.noSuchEndpoint(id) }
            _ = unlink(path(id, "state"))
            let temporary = "\(id).state.tmp-"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where name.hasPrefix(temporary) {
                _ = unlink(directory + "/" + name)
            }
        }
    }

    public func state(of id: String) throws -> WebhookState? {
        guard Self.isID(id), let data = FileManager.default.contents(atPath: path(id, "state")) else { return nil }
        return try JSONDecoder().decode(WebhookState.self, from: data)
    }

    /// Writes the endpoint's delivery state durably (written and synced beside it, renamed
    /// into place, the directory synced). The rename alone runs under the directory's lock,
    /// and only while the endpoint's file is there: a state saved as the endpoint is removed
    /// (``remove(_:)`` takes the same lock) is never left behind it, a file no one would
    /// remove; the save then fails with ``StoreError/noSuchEndpoint(_:)``.
    public func save(_ state: WebhookState, of id: String) throws {
        guard Self.isID(id) else { throw StoreError.noSuchEndpoint(id) }
        try SecretFile.replace(path(id, "state"), contents: [UInt8](try Self.encoder.encode(state))) { rename in
            try SecretFile.withExclusiveLock(on: directory, followingLinks: true) {
                guard FileManager.default.fileExists(atPath: path(id, "json")) else {
                    throw StoreError.noSuchEndpoint(id)
                }
                try rename()
            }
        }
    }

    func path(_ id: String, _ suffix: String) -> String { "\(directory)/\(id).\(suffix)" }

    static func isID(_ id: String) -> Bool {
        id.count == 27 && id.hasPrefix("ep_") && id.dropFirst(3).allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Replaces `path` with a 0600 file of `data`, all at once (``SecretFile/replace(_:contents:)``).
    func write(_ data: Data, to path: String) throws {
        try SecretFile.replace(path, contents: [UInt8](data))
    }
}
