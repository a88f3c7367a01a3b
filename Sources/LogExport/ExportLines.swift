import AuthDomain
import EventLog
import Foundation

/// Why a line of an export is refused: one sentence, printed after the line number.
public struct ImportFault: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// The times an import accepts, in every field that holds one: from the Unix epoch to the end
/// of year 9999. Anything outside (a crafted −2^63, say) is refused before it is stored, so
/// no later arithmetic on a stored time meets it.
public enum ImportedTime {
    public static let range: ClosedRange<Int64> = 0...253_402_300_799_999_999

    public static func check(_ time: Timestamp, _ field: String) throws {
        guard range.contains(time.microsecondsSince1970) else {
            throw ImportFault("\(field) \(time.microsecondsSince1970) is outside 1970 to 9999")
        }
    }
}

/// A `data_key` line: one wrapped key slot, named by its user.
public struct DataKeyLine: Decodable {
    public let kind: String
    public let slotHex: String
    public let user: String

    enum CodingKeys: String, CodingKey {
        case kind, user
        case slotHex = "slot"
    }

    /// The slot's 80 bytes, after checking that they name the line's user.
    public var slot: [UInt8] {
        get throws {
            guard let bytes = unhex(slotHex), bytes.count == 80 else {
                throw ImportFault("a data key's slot is not 80 bytes of hex")
            }
            guard let id = UUID(text: user), Array(bytes[0..<16]) == withUnsafeBytes(of: id.uuid, { Array($0) })
            else { throw ImportFault("a data key's slot does not belong to its user \(user)") }
            return bytes
        }
    }

    public init(_ line: [UInt8]) throws {
        self = try decodeLine(DataKeyLine.self, line)
    }
}

/// An `event` line, every field checked: integers of the right width and sign, the position
/// that comes next, a UUID stream, a version from 1, a known event type, a time within
/// ``ImportedTime`` that matches its RFC 3339 text, actor and correlation id as the service
/// writes them, base64 payload (spelled as an export spells it) within the size limit, a
/// 32-byte hash in hex. The hash chain and stream versions are checked as the batch is
/// stored; the payload by ``checkPayload(decoding:)``.
public struct EventLine: Decodable {
    public let position: UInt64
    public let stream: String
    public let streamVersion: UInt64
    public let type: String
    public let schemaVersion: UInt16
    public let recordedAt: String
    public let recordedAtMicroseconds: Int64
    public let actor: String
    public let correlationID: String
    public let payload: String
    public let hash: String

    enum CodingKeys: String, CodingKey {
        case position, stream, type, actor, payload, hash
        case streamVersion = "stream_version"
        case schemaVersion = "schema_version"
        case recordedAt = "recorded_at"
        case recordedAtMicroseconds = "recorded_at_us"
        case correlationID = "correlation_id"
    }

    /// The stored bytes: canonical bytes rebuilt from the fields, then the hash.
    public private(set) var stored: [UInt8] = []

    public init(_ line: [UInt8], expectedPosition: UInt64) throws {
        self = try decodeLine(EventLine.self, line)
        guard position == expectedPosition else {
            throw ImportFault("position \(position) where \(expectedPosition) comes next")
        }
        guard let streamID = UUID(text: stream) else { throw ImportFault("stream \(stream) is not a UUID") }
        guard streamVersion >= 1 else { throw ImportFault("stream_version 0 (versions start at 1)") }
        guard UserEvent.Kind(name: type) != nil else { throw ImportFault("unknown event type \(type)") }
        let recorded = Timestamp(microsecondsSince1970: recordedAtMicroseconds)
        try ImportedTime.check(recorded, "recorded_at_us")
        guard recorded.description == recordedAt else {
            throw ImportFault("recorded_at \(recordedAt) does not match recorded_at_us \(recordedAtMicroseconds)")
        }
        guard Actor.isRecorded(actor) else {
            throw ImportFault("actor \(actor) is neither a user id, system, anonymous nor credential:ID")
        }
        // Base64 as the export writes it, padded and with zero spare bits: Foundation also
        // reads other spellings of the same bytes, which an export never holds.
        guard let bytes = Data(base64Encoded: payload), bytes.base64EncodedString() == payload else {
            throw ImportFault("payload is not base64 as an export writes it")
        }
        guard let hashBytes = unhex(hash), hashBytes.count == 32 else {
            throw ImportFault("hash is not 32 bytes of hex")
        }
        let event = NewEvent(
            type: type, schemaVersion: schemaVersion,
            metadata: EventMetadata(actor: actor, correlationID: correlationID), payload: [UInt8](bytes))
        do { try event.validate() } catch { throw ImportFault("\(error)") }
        var writer = ByteWriter(capacity: 256 + bytes.count)
        Envelope.writeCanonical(
            of: event, position: position, streamID: streamID, streamVersion: streamVersion, recordedAt: recorded,
            to: &writer)
        stored = writer.bytes + hashBytes
    }

    /// Decodes the payload as its event type and schema version require, with `decode` (which
    /// opens the sealed part with the user's data key when the export carries it); times inside
    /// it must be within ``ImportedTime``.
    public func checkPayload(decoding decode: (EnvelopeView) throws -> UserEvent) throws {
        let event: UserEvent
        do {
            event = try stored.withUnsafeBytes { try decode(Envelope.parse($0)) }
        } catch {
            throw ImportFault("the payload is not a valid \(type) (schema version \(schemaVersion)): \(error)")
        }
        switch event {
        case .emailVerificationRequested(let issued), .passwordResetRequested(let issued):
            try ImportedTime.check(issued.expiresAt, "the payload's expires_at")
        case .loginFailed(let failed):
            if let until = failed.lockedUntil { try ImportedTime.check(until, "the payload's locked_until") }
        default: break
        }
    }
}

/// One line as `Line`, or a fault naming the field that does not fit.
private func decodeLine<Line: Decodable>(_: Line.Type, _ line: [UInt8]) throws -> Line {
    do {
        return try JSONDecoder().decode(Line.self, from: Data(line))
    } catch DecodingError.keyNotFound(let key, _) {
        throw ImportFault("the field \(key.stringValue) is missing")
    } catch DecodingError.typeMismatch(_, let context), DecodingError.dataCorrupted(let context),
        DecodingError.valueNotFound(_, let context)
    {
        let field = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw ImportFault("the field \(field) is not a valid value (\(context.debugDescription))")
    }
}
