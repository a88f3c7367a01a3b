import Foundation

/// The stored form of one event, version 1: its canonical bytes, then its 32-byte chain hash.
///
/// Canonical bytes, integers big-endian:
///
///     u8  format (1)            u64 position          16B stream id (RFC 4122 order)
///     u64 stream version        i64 recorded-at (µs since 1970, UTC)
///     u16 payload schema version
///     u8 n + n bytes: event type      u8 n + n bytes: actor      u8 n + n bytes: correlation id
///     u32 n + n bytes: payload
///
/// The hash that follows is `SHA-256(previous hash || canonical bytes)`.
public enum Envelope {
    public static let formatVersion: UInt8 = 1
    public static let hashSize = 32
    /// Bytes of the fixed part before the variable-length fields.
    static let fixedSize = 1 + 8 + 16 + 8 + 8 + 2

    /// Appends the canonical bytes of `event` at `position` to `writer`.
    public static func writeCanonical(
        of event: NewEvent, position: UInt64, streamID: UUID, streamVersion: UInt64, recordedAt: Timestamp,
        to writer: inout ByteWriter
    ) {
        writer.write(formatVersion)
        writer.write(position)
        writer.write(streamID)
        writer.write(streamVersion)
        writer.write(recordedAt.microsecondsSince1970)
        writer.write(event.schemaVersion)
        writer.write(shortString: event.type)
        writer.write(shortString: event.metadata.actor)
        writer.write(shortString: event.metadata.correlationID)
        writer.write(UInt32(event.payload.count))
        writer.write(raw: event.payload)
    }

    /// The stream id of a stored envelope, read at its fixed offset without parsing the rest,
    /// for a walk that skips most events (one partition of a fold); `nil` if too short to hold one.
    @inlinable
    public static func streamID(ofStored stored: UnsafeRawBufferPointer) -> UUID? {
        streamIDBytes(ofStored: stored).map(UUID.init(uuid:))
    }

    /// ``streamID(ofStored:)`` as the bare 16 bytes, for a filter that runs on every event of
    /// a walk: making a `UUID` is a call into Foundation.
    @inlinable
    public static func streamIDBytes(ofStored stored: UnsafeRawBufferPointer) -> uuid_t? {
        guard stored.count >= 25 else { return nil }
        return stored.loadUnaligned(fromByteOffset: 9, as: uuid_t.self)
    }

    /// Reads a stored envelope without copying.
    public static func parse(_ stored: UnsafeRawBufferPointer) throws(BinaryDecodingError) -> EnvelopeView {
        guard stored.count >= fixedSize + 3 + 4 + hashSize else {
            throw .truncated(needed: fixedSize + 7 + hashSize - stored.count, offset: stored.count)
        }
        let canonical = UnsafeRawBufferPointer(rebasing: stored[0..<stored.count - hashSize])
        var reader = ByteReader(canonical)
        let format = try reader.readUInt8()
        guard format == formatVersion else { throw .invalidValue("envelope format \(format)") }
        let position = try reader.readUInt64()
        let streamID = try reader.readUUID()
        let streamVersion = try reader.readUInt64()
        let recordedAt = Timestamp(microsecondsSince1970: try reader.readInt64())
        let schemaVersion = try reader.readUInt16()
        let type = try reader.readShortBytes()
        let actor = try reader.readShortBytes()
        let correlationID = try reader.readShortBytes()
        let payloadSize = try reader.readUInt32()
        let payload = try reader.readBytes(count: Int(payloadSize))
        guard reader.isAtEnd else { throw .invalidValue("\(reader.remaining) bytes after the payload") }
        return EnvelopeView(
            position: position, streamID: streamID, streamVersion: streamVersion, recordedAt: recordedAt,
            schemaVersion: schemaVersion, typeBytes: type, actorBytes: actor, correlationIDBytes: correlationID,
            payload: payload, canonicalBytes: canonical,
            hash: ChainHash(bytes: UnsafeRawBufferPointer(rebasing: stored[(stored.count - hashSize)...])))
    }
}

/// A stored envelope read in place. Its buffers borrow the storage and are valid only inside
/// the read that produced the view; call ``recorded`` to keep the event.
public struct EnvelopeView {
    public let position: UInt64
    public let streamID: UUID
    public let streamVersion: UInt64
    public let recordedAt: Timestamp
    public let schemaVersion: UInt16
    public let typeBytes: UnsafeRawBufferPointer
    public let actorBytes: UnsafeRawBufferPointer
    public let correlationIDBytes: UnsafeRawBufferPointer
    public let payload: UnsafeRawBufferPointer
    /// The bytes the chain hash covers.
    public let canonicalBytes: UnsafeRawBufferPointer
    /// The hash stored with the envelope (not recomputed).
    public let hash: ChainHash

    public var type: String { String(decoding: typeBytes, as: UTF8.self) }

    /// Whether the type is `name`, without building a `String`.
    public func hasType(_ name: StaticString) -> Bool {
        typeBytes.elementsEqual(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    /// An owned copy of the event.
    public var recorded: RecordedEvent {
        RecordedEvent(
            position: position, streamID: streamID, streamVersion: streamVersion, type: type,
            schemaVersion: schemaVersion, recordedAt: recordedAt,
            metadata: EventMetadata(
                actor: String(decoding: actorBytes, as: UTF8.self),
                correlationID: String(decoding: correlationIDBytes, as: UTF8.self)),
            payload: [UInt8](payload), hash: hash)
    }
}
