import Foundation

/// Appends big-endian integers, LEB128 varints, strings and UUIDs to a byte array.
///
/// The log's envelope and the domain's event payloads are written with it: a compact
/// binary form that decodes about two orders of magnitude faster than JSON.
///
/// Inlinable, like ``ByteReader``: the writers of rows and payloads in other modules then
/// get specialised code instead of generic calls that look up type metadata per field.
@frozen
public struct ByteWriter: Sendable {
    @usableFromInline var storage: [UInt8]

    /// What has been written.
    @inlinable public var bytes: [UInt8] { storage }

    @inlinable
    public init(capacity: Int = 256) {
        storage = []
        storage.reserveCapacity(capacity)
    }

    /// Empties the writer, keeping its storage for the next value.
    @inlinable
    public mutating func reset() { storage.removeAll(keepingCapacity: true) }

    @inlinable
    public mutating func write(_ value: UInt8) { storage.append(value) }

    @inlinable
    public mutating func write(_ value: UInt16) {
        withUnsafeBytes(of: value.bigEndian) { storage.append(contentsOf: $0) }
    }

    @inlinable
    public mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { storage.append(contentsOf: $0) }
    }

    @inlinable
    public mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { storage.append(contentsOf: $0) }
    }

    @inlinable
    public mutating func write(_ value: Int64) { write(UInt64(bitPattern: value)) }

    /// An unsigned LEB128 varint: 7 bits a byte, low bits first.
    @inlinable
    public mutating func writeVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            storage.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        storage.append(UInt8(rest))
    }

    /// Raw bytes, no length.
    @inlinable
    public mutating func write(raw: some Sequence<UInt8>) { storage.append(contentsOf: raw) }

    /// Appends `count` bytes that `fill` writes in place (for output produced by C calls).
    @inlinable
    public mutating func append(
        count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) rethrows {
        let start = storage.count
        storage.append(contentsOf: repeatElement(0, count: count))
        try storage.withUnsafeMutableBytes { try fill(UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
    }

    /// A varint length, then the bytes.
    @inlinable
    public mutating func write(lengthPrefixed raw: some Collection<UInt8>) {
        writeVarint(UInt64(raw.count))
        storage.append(contentsOf: raw)
    }

    /// A varint length, then UTF-8.
    @inlinable
    public mutating func write(_ string: String) {
        var copy = string
        copy.withUTF8 { write(lengthPrefixed: $0) }
    }

    /// A one-byte length, then UTF-8 (strings known to fit in 255 bytes).
    @inlinable
    public mutating func write(shortString string: String) {
        var copy = string
        copy.withUTF8 { utf8 in
            precondition(utf8.count <= 255)
            storage.append(UInt8(utf8.count))
            storage.append(contentsOf: utf8)
        }
    }

    /// Sixteen bytes in RFC 4122 order.
    @inlinable
    public mutating func write(_ uuid: UUID) {
        withUnsafeBytes(of: uuid.uuid) { storage.append(contentsOf: $0) }
    }

    /// A presence byte (0 or 1), then the value when present.
    @inlinable
    public mutating func writeOptional<Value>(_ value: Value?, _ writeValue: (inout ByteWriter, Value) -> Void) {
        if let value {
            write(UInt8(1))
            writeValue(&self, value)
        } else {
            write(UInt8(0))
        }
    }
}
