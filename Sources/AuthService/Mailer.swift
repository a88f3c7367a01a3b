import DataProtection
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A message to a user: reset and verification tokens reach people this way.
public struct MailMessage: Hashable, Sendable {
    public var to: String
    public var subject: String
    /// The plain-text part.
    public var body: String
    /// The HTML part, if any: the message is then multipart/alternative (text first).
    public var html: String?
    /// The user the message is about: erasure finds their waiting mail by it, even once
    /// their address can no longer be read.
    public var user: UUID?

    public init(to: String, subject: String, body: String, html: String? = nil, user: UUID? = nil) {
        self.to = to
        self.subject = subject
        self.body = body
        self.html = html
        self.user = user
    }
}

/// Delivers messages. Implementations must not log a message's body: it holds a token.
public protocol Mailer: Sendable {
    func send(_ message: MailMessage) async throws
    /// Deletes every message to `recipient` still held (erasure); nothing if none is kept.
    func purge(recipient: String) async throws
    /// Deletes every message about `user` still held (erasure, also when it is finished by
    /// a second run whose address is gone); nothing if none is kept.
    func purge(user: UUID) async throws
    /// The users whose messages are held now (by their `X-Authlog-User`), so that the mail of
    /// a user erased elsewhere can be found; empty if none is kept.
    func heldUsers() throws -> Set<UUID>
}

extension Mailer {
    public func purge(recipient: String) async throws {}
    public func purge(user: UUID) async throws {}
    public func heldUsers() throws -> Set<UUID> { [] }
}

/// The default mailer: each message becomes one file in a Maildir (`tmp/`, `new/`, `cur/`)
/// under the data directory, written to `tmp/` and renamed into `new/`, so a reader never
/// sees half a message. `new/` is the outbox: with SMTP configured, authd's delivery worker
/// sends what waits there and removes each message once the server accepted it; messages it
/// gave up on wait in `failed/` with their reason (see ``MaildirMailer/markFailed(_:reason:)``).
/// Without SMTP, a person, a test or another delivery agent picks them up from `new/`.
public struct MaildirMailer: Mailer {
    public let directory: String
    public let sender: String
    /// Called after each message is queued (the delivery worker's wake-up); nil: nobody listens.
    public var queued: (@Sendable () -> Void)?
    /// The user each held message names, by folder and name (a message's head never changes
    /// under its name): ``heldUsers()`` reads only messages it has not seen.
    private let namedUsers = NamedUsers()

    /// The folders messages are kept in; `failed/` beside the Maildir's own.
    static let folders = ["tmp", "new", "cur", "failed"]

    public init(directory: String, sender: String = "Authlog <no-reply@localhost>") throws {
        self.directory = directory
        self.sender = sender
        // 0700 from their creation: waiting mail holds reset and verification tokens.
        try SecretFile.makeDirectory(directory)
        for sub in Self.folders { try SecretFile.makeDirectory(directory + "/" + sub) }
    }

    public func send(_ message: MailMessage) async throws {
        let name = Self.newName()
        let text = Self.compose(message, sender: sender, messageID: name)
        let temporary = directory + "/tmp/" + name
        try SecretFile.create(temporary, contents: Array(text.utf8))  // 0600 from its first byte
        try FileManager.default.moveItem(atPath: temporary, toPath: directory + "/new/" + name)
        queued?()
    }

    /// A unique file name that starts with the Unix time it was made at (the retry window
    /// of the delivery worker counts from it), then its nanoseconds, nine digits: names sort in
    /// the order the messages were queued, also within one second, and the delivery worker
    /// takes them in that order (one waiting for a retry lets later ones pass).
    static func newName() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let nanoseconds = String(now.tv_nsec)
        let padded = String(repeating: "0", count: max(0, 9 - nanoseconds.count)) + nanoseconds
        return "\(now.tv_sec).\(padded).\(UUID().uuidString.lowercased()).authlog"
    }

    public func purge(recipient: String) async throws {
        try purge(where: "\r\nTo: \(recipient)\r\n")
    }

    public func purge(user: UUID) async throws {
        try purge(where: "\r\nX-Authlog-User: \(user.uuidString.lowercased())\r\n")
    }

    /// Reads the first 4 KiB (the headers) of each held message it has not read before.
    public func heldUsers() throws -> Set<UUID> {
        var present: [String] = []
        for sub in Self.folders {
            let folder = directory + "/" + sub
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                present.append(sub + "/" + name)
            }
        }
        let known = namedUsers.table.withLock { $0 }
        var named: [String: UUID?] = [:]
        for path in present {
            if let user = known[path] {
                named[path] = user
                continue
            }
            // tmp/ holds messages being written: read them again until they move.
            guard let file = FileHandle(forReadingAtPath: directory + "/" + path) else { continue }
            defer { try? file.close() }
            let head = String(decoding: (try? file.read(upToCount: 4_096)) ?? Data(), as: UTF8.self)
            let user = Self.user(inHead: head)
            if user != nil || !path.hasPrefix("tmp/") { named[path] = user }
        }
        namedUsers.table.withLock { $0 = named }
        return Set(named.values.compactMap { $0 })
    }

    /// The user a message's `X-Authlog-User` header names, if its head has one.
    static func user(inHead text: some StringProtocol) -> UUID? {
        guard let start = text.range(of: "\r\nX-Authlog-User: ") else { return nil }
        return UUID(uuidString: String(text[start.upperBound...].prefix(36)))
    }

    /// Deletes every held message (waiting, failed or half-written) whose text contains `header`.
    private func purge(where header: String) throws {
        for sub in Self.folders {
            let folder = directory + "/" + sub
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                let path = folder + "/" + name
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
                if text.contains(header) { try? FileManager.default.removeItem(atPath: path) }
            }
        }
    }

    /// The messages waiting in `new/`, oldest first (for tests and for operators).
    public func waitingMessages() throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/new").sorted()
        return try names.map { try String(contentsOfFile: directory + "/new/" + $0, encoding: .utf8) }
    }

    static func rfc5322Date() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: Date())
    }
}

/// The user each held message names, shared by the copies of one ``MaildirMailer``.
private final class NamedUsers: Sendable {
    let table = Mutex<[String: UUID?]>([:])
}
