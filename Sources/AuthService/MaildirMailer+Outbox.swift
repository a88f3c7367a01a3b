import DataProtection
import Foundation

/// One message held in the outbox (`new/`) or given up on (`failed/`).
public struct OutboxEntry: Sendable, Equatable {
    public enum State: String, Sendable {
        case waiting, failed
    }
    /// The file's name in its folder: what `authctl mail retry` takes.
    public var name: String
    public var state: State
    public var recipient: String
    public var subject: String
    /// When it was queued (from its name).
    public var queuedAt: Date
    /// Why delivery was given up, for a failed one (no token: see the delivery worker's rules).
    public var reason: String?
}

/// A stored message split into what the SMTP transfer needs.
public struct OutboxMessage: Sendable {
    /// The envelope's recipient: the `To` header.
    public var recipient: String
    /// The message as it goes out: the stored one without its `X-Authlog-` headers.
    public var bytes: [UInt8]
    /// The user it is about (its `X-Authlog-User` header), if it names one.
    public var user: UUID?
}

extension MaildirMailer {
    /// The names waiting in `new/`, oldest first.
    public func waitingNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/new")) ?? []).sorted()
    }

    /// How many messages wait in `new/` and in `failed/` (for the metrics).
    public func counts() -> (waiting: Int, failed: Int) {
        func count(_ sub: String) -> Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + sub)) ?? []).count
        }
        return (count("new"), count("failed"))
    }

    /// The waiting message `name`, ready to send; nil if it is gone (delivered, purged) or has
    /// no `To` header.
    public func outgoing(_ name: String) -> OutboxMessage? {
        guard let data = FileManager.default.contents(atPath: directory + "/new/" + name) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let headers = text[..<split.lowerBound].components(separatedBy: "\r\n")
        guard let to = headers.first(where: { $0.hasPrefix("To: ") })?.dropFirst(4), !to.isEmpty else { return nil }
        let kept = headers.filter { !$0.lowercased().hasPrefix("x-authlog-") }.joined(separator: "\r\n")
        return OutboxMessage(
            recipient: String(to), bytes: Array((kept + text[split.lowerBound...]).utf8),
            user: Self.user(inHead: text[..<split.upperBound]))
    }

    /// Removes a waiting message once the server accepted it, or when it must not go (its user
    /// is erased); nothing if it is already gone.
    public func delivered(_ name: String) {
        try? FileManager.default.removeItem(atPath: directory + "/new/" + name)
    }

    /// Moves a waiting message to `failed/` with `reason` in an `X-Authlog-Failure` header
    /// (written whole to `tmp/` first, 0600, then renamed); nothing if it is gone.
    public func markFailed(_ name: String, reason: String) throws {
        guard let data = FileManager.default.contents(atPath: directory + "/new/" + name) else { return }
        let when = ISO8601DateFormatter().string(from: Date())
        let line = reason.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        let header = Array("X-Authlog-Failure: \(when) \(line)\r\n".utf8)
        try SecretFile.create(directory + "/tmp/" + name, contents: header + [UInt8](data))
        try FileManager.default.moveItem(atPath: directory + "/tmp/" + name, toPath: directory + "/failed/" + name)
        try? FileManager.default.removeItem(atPath: directory + "/new/" + name)
    }

    /// Moves failed messages back to `new/` under a new name (so their retry window starts
    /// again), without their failure note; `names` empty: every failed one. Returns the names
    /// moved; throws ``OutboxError/noSuchMessage(_:)`` for a name not in `failed/`.
    public func retry(_ names: [String]) throws -> [String] {
        let folder = directory + "/failed/"
        let chosen =
            names.isEmpty ? ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() : names
        for name in chosen where name.contains("/") || !FileManager.default.fileExists(atPath: folder + name) {
            throw OutboxError.noSuchMessage(name)
        }
        var moved: [String] = []
        for name in chosen {
            guard let data = FileManager.default.contents(atPath: folder + name) else { continue }
            var text = String(decoding: data, as: UTF8.self)
            while text.hasPrefix("X-Authlog-Failure: "), let end = text.range(of: "\r\n") {
                text.removeSubrange(..<end.upperBound)
            }
            let fresh = Self.newName()
            try SecretFile.create(directory + "/tmp/" + fresh, contents: Array(text.utf8))
            try FileManager.default.moveItem(atPath: directory + "/tmp/" + fresh, toPath: directory + "/new/" + fresh)
            try FileManager.default.removeItem(atPath: folder + name)
            moved.append(fresh)
        }
        if !moved.isEmpty { queued?() }
        return moved
    }

    /// The waiting and failed messages, each folder oldest first.
    public func entries() -> [OutboxEntry] {
        var entries: [OutboxEntry] = []
        for state in [OutboxEntry.State.waiting, .failed] {
            let folder = directory + "/" + (state == .waiting ? "new" : "failed") + "/"
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() {
                guard let data = FileManager.default.contents(atPath: folder + name) else { continue }
                let text = String(decoding: data, as: UTF8.self)
                let head = text.range(of: "\r\n\r\n").map { text[..<$0.lowerBound] } ?? text[...]
                let lines = head.components(separatedBy: "\r\n")
                func value(_ header: String) -> String? {
                    lines.first { $0.hasPrefix(header + ": ") }.map { String($0.dropFirst(header.count + 2)) }
                }
                entries.append(
                    OutboxEntry(
                        name: name, state: state, recipient: value("To") ?? "", subject: value("Subject") ?? "",
                        queuedAt: Self.queuedAt(name) ?? Date(), reason: value("X-Authlog-Failure")))
            }
        }
        return entries
    }

    /// When the message `name` was queued: the Unix time its name starts with.
    public static func queuedAt(_ name: String) -> Date? {
        name.split(separator: ".").first.flatMap { Double($0) }.map { Date(timeIntervalSince1970: $0) }
    }
}

/// A request about the outbox that cannot be met.
public enum OutboxError: Error, CustomStringConvertible, Equatable {
    case noSuchMessage(String)

    public var description: String {
        switch self {
        case .noSuchMessage(let name): "no failed message named \(name)"
        }
    }
}
