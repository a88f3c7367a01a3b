import EventLog
import Foundation
import Signatures

/// A checkpoint as one JSON object: what `authctl head` prints and `verify --since-head` and
/// exports read back.
public struct CheckpointJSON: Codable {
    public var kind = "checkpoint"
    public var role: String
    public var position: UInt64
    public var hash: String
    public var recordedAt: String
    public var recordedAtMicroseconds: Int64
    public var signature: String
    public var publicKey: String?

    public enum CodingKeys: String, CodingKey {
        case kind, role, position, hash, signature
        case recordedAt = "recorded_at"
        case recordedAtMicroseconds = "recorded_at_us"
        case publicKey = "public_key"
    }

    public init(_ checkpoint: Checkpoint, publicKey: Ed25519Key?) {
        role = checkpoint.role == .head ? "head" : "interval"
        position = checkpoint.position
        hash = checkpoint.hash.description
        recordedAt = checkpoint.recordedAt.description
        recordedAtMicroseconds = checkpoint.recordedAt.microsecondsSince1970
        signature = Base64URL.encode(checkpoint.signature)
        self.publicKey = publicKey.map { hex($0.publicKey) }
    }

    /// The checkpoint it describes, or `nil` when a field is malformed.
    public var checkpoint: Checkpoint? {
        guard kind == "checkpoint", let hash = ChainHash(hex: hash),
            let signature = Base64URL.decode(signature), signature.count == 64
        else { return nil }
        let role: Checkpoint.Role
        switch self.role {
        case "head": role = .head
        case "interval": role = .interval
        default: return nil
        }
        return Checkpoint(
            role: role, position: position, hash: hash,
            recordedAt: Timestamp(microsecondsSince1970: recordedAtMicroseconds), signature: signature)
    }

    public static func parse(_ line: some Sequence<UInt8>) -> CheckpointJSON? {
        try? JSONDecoder().decode(CheckpointJSON.self, from: Data(line))
    }

    public var line: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}
