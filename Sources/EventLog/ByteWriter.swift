import Foundation

/// Appends big-endian integers, LEB128 varints, strings and UUIDs to a byte array.
///
/// The log's envelope and the domain's event payloads are written with it: a compact
/// binary form that decodes about two orders of magnitude faster than JSON.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the writer, keeping its storage for the next value.
    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    public mutating func write(_ value: UInt8) { bytes.append(value) }

    public mutating func write(_ value: UInt16) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: Int64) { write(UInt64(bitPattern: value)) }

    /// An unsigned LEB128 varint: 7 bits a byte, low bits first.
    public mutating func writeVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// Raw bytes, no length.
    public mutating func write(raw: some Sequence<UInt8>) { bytes.append(contentsOf: raw) }

    /// A varint length, then the bytes.
    public mutating func write(lengthPrefixed raw: some Collection<UInt8>) {
        writeVarint(UInt64(raw.count))
        bytes.append(contentsOf: raw)
    }

    /// A varint length, then UTF-8.
    public mutating func write(_ string: String) {
        var copy = string
        copy.withUTF8 { write(lengthPrefixed: $0) }
    }

    /// A one-byte length, then UTF-8 (strings known to fit in 255 bytes).
    public mutating func write(shortString string: String) {
        var copy = string
        copy.withUTF8 { utf8 in
            precondition(utf8.count <= 255)
            bytes.append(UInt8(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// Sixteen bytes in RFC 4122 order.
    public mutating func write(_ uuid: UUID) {
        withUnsafeBytes(of: uuid.uuid) { bytes.append(contentsOf: $0) }
    }

    /// A presence byte (0 or 1), then the value when present.
    public mutating func writeOptional<Value>(_ value: Value?, _ writeValue: (inout ByteWriter, Value) -> Void) {
        if let value {
            write(UInt8(1))
            writeValue(&self, value)
        } else {
            write(UInt8(0))
        }
    }
}
