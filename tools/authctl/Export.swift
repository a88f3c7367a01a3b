import ArgumentParser
import AuthDomain
import DataProtection
import EventLog
import EventLogLMDB
import EventLogPostgres
import EventSealing
import Foundation
import LogExport
import Projections

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the log as JSON Lines: a complete, importable backup (or, --readable, for auditors).",
        discussion: """
            Line 1 is a header; then one line per data key of every user who is not erased \
            (still wrapped by the key-encryption key, which is not exported); then one line per \
            event with every envelope field: stored payload bytes in base64, hashes in hex. \
            Restore with `authctl import`, which needs the same key-encryption key.
            --readable decodes payloads to JSON, personal fields opened where a key exists; it \
            is for reading, not importable. With --log-url, the shared log is exported: the same \
            lines as an export of the same log from a data directory.

            Example:
              authctl --data ./data export > backup.jsonl
              authctl --data ./data export --from 1000 --to 2000 --readable
            """)

    @ParentCommand var root: Authctl
    @Option(help: "First position.") var from: UInt64 = 1
    @Option(help: "Last position (default: the head).") var to: UInt64?
    @Flag(help: "Decode payloads for auditors (not importable).") var readable = false

    /// Reads the log and the key store only, never the projections: a backup must not depend
    /// on a read model derived from what it backs up.
    func run() throws {
        let log: any ExportedLog
        let keys: any SharedKeyStore
        if let url = root.logURL {
            log = try openSharedLog(url)
            keys = try openSharedKeys(root, readOnly: true)
        } else {
            log = try root.openReadOnly()
            keys = try failing { try KeyStore(dataDirectory: root.data, readOnly: true) }
        }
        defer { log.close() }
        // The head and its checkpoint from one snapshot, so that an export taken while authd
        // writes ends on the head its checkpoint signs.
        let (head, headCheckpoint) = try failing { try log.signedHead() }
        let last = min(to ?? head, head)
        let out = LineWriter()
        let publicKey = keys.logSigningKey
        var header: [(String, Any)] = [
            ("kind", "header"), ("format", ExportFormat.name), ("from", Int(from)), ("to", Int(last)),
            ("key_check", hex(keys.keyCheck)), ("readable", readable),
        ]
        if let publicKey { header.append(("public_key", hex(publicKey.publicKey))) }
        if let slot = keys.storedLogSigningSlot { header.append(("log_signing_key", hex(slot))) }
        try out.write(jsonLine(header))
        var checkpoints = try failing {
            try ExportCheckpoints(log: log, head: headCheckpoint, from: from, through: last)
        }
        if !readable {
            for user in try failing({ try keys.users() }).sorted(by: uuidOrder) {
                guard let slot = try failing({ try keys.storedSlot(for: user) }) else { continue }
                out.write(
                    "{\"kind\":\"data_key\",\"slot\":\"\(hex(slot))\",\"user\":\"\(user.uuidString.lowercased())\"}")
            }
        }
        let sealing = UserEventSealing(keys: keys)
        try failing {
            try log.forEachExported(from: from, through: last) { position, stored in
                let view = try Envelope.parse(stored)
                if readable {
                    let event = try sealing.decode(view)
                    out.write(
                        try jsonLine(
                            envelopeFields(view) + [("event", readableFields(event)), ("hash", view.hash.description)]))
                } else {
                    out.write(eventLine(view))
                    if let line = checkpoints.line(after: position) { out.write(line) }
                }
            }
        }
        out.flush()
    }

    /// The importable event line, written by hand so that its bytes are fixed (keys sorted).
    func eventLine(_ view: EnvelopeView) -> String {
        "{\"actor\":\(jsonString(view.actorBytes)),\"correlation_id\":\(jsonString(view.correlationIDBytes)),"
            + "\"hash\":\"\(view.hash)\",\"kind\":\"event\",\"payload\":\"\(Data(view.payload).base64EncodedString())\","
            + "\"position\":\(view.position),\"recorded_at\":\"\(view.recordedAt)\","
            + "\"recorded_at_us\":\(view.recordedAt.microsecondsSince1970),\"schema_version\":\(view.schemaVersion),"
            + "\"stream\":\"\(view.streamID.uuidString.lowercased())\",\"stream_version\":\(view.streamVersion),"
            + "\"type\":\(jsonString(view.typeBytes))}"
    }

    func envelopeFields(_ view: EnvelopeView) -> [(String, Any)] {
        [
            ("kind", "event"), ("position", Int(view.position)), ("stream", view.streamID.uuidString.lowercased()),
            ("stream_version", Int(view.streamVersion)), ("type", view.type),
            ("schema_version", Int(view.schemaVersion)),
            ("recorded_at", view.recordedAt.description), ("actor", view.recorded.metadata.actor),
            ("correlation_id", view.recorded.metadata.correlationID),
        ]
    }
}

/// What an export reads of a log: the embedded one or the shared one (`--log-url`), which
/// export the same lines for the same events.
protocol ExportedLog {
    func signedHead() throws -> (position: UInt64, checkpoint: Checkpoint?)
    func intervalCheckpoints(from first: UInt64, through last: UInt64) throws -> [Checkpoint]
    /// The stored bytes of each event from `position` through `last`, in order.
    func forEachExported(
        from position: UInt64, through last: UInt64, _ body: (UInt64, UnsafeRawBufferPointer) throws -> Void
    ) throws
    func close()
}

extension LMDBEventLog: ExportedLog {
    func forEachExported(
        from position: UInt64, through last: UInt64, _ body: (UInt64, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        try forEachStoredEnvelope(from: position, through: last, body)
    }
}

extension PostgresEventLog: ExportedLog {
    func forEachExported(
        from position: UInt64, through last: UInt64, _ body: (UInt64, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        try forEachStoredEnvelope(from: position, through: last) { position, stored in
            try stored.withUnsafeBytes { try body(position, $0) }
        }
    }
}

/// Data key lines come in the order of their users' id bytes, whichever store holds them.
func uuidOrder(_ a: UUID, _ b: UUID) -> Bool {
    withUnsafeBytes(of: a.uuid) { a in withUnsafeBytes(of: b.uuid) { b in a.lexicographicallyPrecedes(b) } }
}

enum ExportFormat {
    /// Events with signed checkpoints (see ``ExportCheckpoints``).
    static let name = "authlog-export/2"
    /// Events only: written by releases before signed checkpoints; imported only when told.
    static let unsigned = "authlog-export/1"
}

/// An event's fields for people: personal values where the key exists, hashes in hex,
/// password hashes never.
func readableFields(_ event: UserEvent) -> [String: Any] {
    func optional(_ value: String?) -> Any { value ?? NSNull() }
    switch event {
    case .registered(let r):
        return [
            "email": r.email, "first_name": r.firstName, "last_name": r.lastName, "phone": optional(r.phone),
            "role": r.role.rawValue,
        ]
    case .emailVerificationRequested(let p), .passwordResetRequested(let p):
        return ["token_hash": p.tokenHash.description, "expires_at": p.expiresAt.description]
    case .loginSucceeded(let s):
        return [
            "session_id": s.sessionID.uuidString.lowercased(), "refresh_token_hash": s.refreshTokenHash.description,
        ]
    case .loginFailed(let f):
        return [
            "consecutive_failures": Int(f.consecutiveFailures), "locked_until": optional(f.lockedUntil?.description),
        ]
    case .refreshTokenRotated(let r):
        return [
            "session_id": r.sessionID.uuidString.lowercased(), "refresh_token_hash": r.refreshTokenHash.description,
        ]
    case .refreshTokenReuseDetected(let id), .loggedOut(let id): return ["session_id": id.uuidString.lowercased()]
    case .passwordResetCompleted, .passwordChanged, .passwordRehashed: return ["password_hash": "(changed)"]
    case .profileUpdated(let c):
        var fields: [String: Any] = [:]
        if let first = c.firstName { fields["first_name"] = first }
        if let last = c.lastName { fields["last_name"] = last }
        if let phone = c.phone { fields["phone"] = optional(phone) }
        return fields
    case .roleChanged(let from, let to): return ["from": from.rawValue, "to": to.rawValue]
    case .stripeCustomerLinked(let id): return ["stripe_customer_id": id]
    case .emailChangeRequested(let r):
        return [
            "new_email": r.newEmail, "token_hash": r.tokenHash.description,
            "expires_at": r.expiresAt.description,
        ]
    case .emailChanged(let email): return ["email": email]
    case .emailVerified, .softDeleted, .restored, .erased, .stripeCustomerUnlinked: return [:]
    }
}

/// A JSON string literal for UTF-8 bytes.
func jsonString(_ bytes: UnsafeRawBufferPointer) -> String {
    JSONString.quote(String(decoding: bytes, as: UTF8.self))
}

/// Buffered lines to stdout.
final class LineWriter {
    private var buffer: [UInt8] = []

    func write(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        buffer.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(STDOUT_FILENO, raw.baseAddress! + offset, raw.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
