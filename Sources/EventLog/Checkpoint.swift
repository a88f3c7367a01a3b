import Foundation
import Signatures

/// A signed statement that the log's chain hash at `position` is `hash`: with the chain,
/// it fixes every event at or before `position`.
///
/// Rules:
/// - Every commit by a writer that holds the signing key replaces the log's **head**
///   checkpoint with one for its new head, in the same transaction. A log whose events run
///   past its head checkpoint was written without the key; one whose head checkpoint lies
///   past its last event was cut short.
/// - When a commit crosses a multiple of ``intervalSpacing``, it also keeps an **interval**
///   checkpoint for its new head. Interval checkpoints stay, so `verify` can say between
///   which two signed positions a rewritten event lies. They are signed with another
///   ``Role`` than heads, so an interval checkpoint can never pass for the head of a log
///   cut back to it.
/// - The signed bytes are ``signedBytes``: a fixed label, the role, the position, the hash
///   and the time; the signature is Ed25519 (RFC 8032).
public struct Checkpoint: Hashable, Sendable {
    /// What a checkpoint vouches for.
    public enum Role: UInt8, Sendable {
        /// The log ends here: nothing follows this position.
        case head = 1
        /// The log passed this position; more may follow.
        case interval = 2
    }

    public var role: Role
    public var position: UInt64
    public var hash: ChainHash
    /// The head's recorded-at time (the commit's time).
    public var recordedAt: Timestamp
    /// 64 bytes of Ed25519 signature over ``signedBytes``.
    public var signature: [UInt8]

    /// Interval checkpoints are kept when a commit crosses a multiple of this many positions.
    public static let intervalSpacing: UInt64 = 4_096
    /// Role, position, hash, time and signature.
    public static let encodedSize = 1 + 8 + 32 + 8 + 64
    static let label = Array("authlog checkpoint v1\n".utf8)

    public init(role: Role, position: UInt64, hash: ChainHash, recordedAt: Timestamp, signature: [UInt8]) {
        self.role = role
        self.position = position
        self.hash = hash
        self.recordedAt = recordedAt
        self.signature = signature
    }

    /// Signs `hash` at `position` with `key`.
    public init(
        role: Role, position: UInt64, hash: ChainHash, recordedAt: Timestamp, signingWith key: Ed25519Key
    ) throws(SignatureError) {
        self.init(role: role, position: position, hash: hash, recordedAt: recordedAt, signature: [])
        signature = try key.sign(signedBytes)
    }

    /// What the signature covers.
    public var signedBytes: [UInt8] {
        var writer = ByteWriter(capacity: Self.label.count + 49)
        writer.write(raw: Self.label)
        writer.write(role.rawValue)
        writer.write(position)
        writer.write(raw: hash.bytes)
        writer.write(recordedAt.microsecondsSince1970)
        return writer.bytes
    }

    /// Whether the signature is `key`'s over ``signedBytes``.
    public func isSigned(by key: Ed25519Key) -> Bool {
        key.verify(signature, of: signedBytes)
    }

    /// The stored form: ``encodedSize`` bytes, integers big-endian.
    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: Self.encodedSize)
        writer.write(role.rawValue)
        writer.write(position)
        writer.write(raw: hash.bytes)
        writer.write(recordedAt.microsecondsSince1970)
        writer.write(raw: signature)
        return writer.bytes
    }

    /// Reads the stored form; `nil` for anything else.
    public init?(encoded bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.encodedSize, let role = Role(rawValue: bytes[0]) else { return nil }
        func fixed(_ offset: Int) -> UInt64 {
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        self.init(
            role: role, position: fixed(1), hash: ChainHash(bytes: UnsafeRawBufferPointer(rebasing: bytes[9..<41])),
            recordedAt: Timestamp(microsecondsSince1970: Int64(bitPattern: fixed(41))),
            signature: Array(bytes[49..<113]))
    }

    /// Whether a commit from `start` to `end` crosses a multiple of ``intervalSpacing``.
    public static func crossesInterval(from start: UInt64, to end: UInt64) -> Bool {
        end > start && end / intervalSpacing != start / intervalSpacing
    }
}
