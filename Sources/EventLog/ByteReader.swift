import Foundation

/// Why bytes could not be decoded.
public enum BinaryDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, offset: Int)
    case invalidUTF8(offset: Int)
    case overlongVarint(offset: Int)
    case invalidValue(String)

    public var description: String {
        switch self {
        case .truncated(let needed, let offset): return "truncated: needed \(needed) more bytes at offset \(offset)"
        case .invalidUTF8(let offset): return "invalid UTF-8 at offset \(offset)"
        case .overlongVarint(let offset): return "varint longer than 10 bytes at offset \(offset)"
        case .invalidValue(let what): return "invalid value: \(what)"
        }
    }
}

/// Reads what ``ByteWriter`` writes, from borrowed memory and without copying until asked.
///
/// The buffer must stay valid while the reader is used (for the log: inside the read).
@frozen
public struct ByteReader {
    public let buffer: UnsafeRawBufferPointer
    public var offset: Int

    @inlinable @inline(__always)
    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    @inlinable public var remaining: Int { buffer.count - offset }
    @inlinable public var isAtEnd: Bool { offset == buffer.count }

    @inlinable @inline(__always)
    mutating func need(_ count: Int) throws(BinaryDecodingError) {
        if count > buffer.count &- offset { throw .truncated(needed: count - (buffer.count - offset), offset: offset) }
    }

    /// The start of the buffer; only read after `need` has checked the bounds.
    @inlinable @inline(__always)
    var base: UnsafeRawPointer { buffer.baseAddress.unsafelyUnwrapped }

    @inlinable @inline(__always)
    public mutating func readUInt8() throws(BinaryDecodingError) -> UInt8 {
        try need(1)
        let value = base.load(fromByteOffset: offset, as: UInt8.self)
        offset &+= 1
        return value
    }

    @inlinable @inline(__always)
    public mutating func readUInt16() throws(BinaryDecodingError) -> UInt16 {
        try need(2)
        let value = base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        offset &+= 2
        return UInt16(bigEndian: value)
    }

    @inlinable @inline(__always)
    public mutating func readUInt32() throws(BinaryDecodingError) -> UInt32 {
        try need(4)
        let value = base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        offset &+= 4
        return UInt32(bigEndian: value)
    }

    @inlinable @inline(__always)
    public mutating func readUInt64() throws(BinaryDecodingError) -> UInt64 {
        try need(8)
        let value = base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        offset &+= 8
        return UInt64(bigEndian: value)
    }

    @inlinable @inline(__always)
    public mutating func readInt64() throws(BinaryDecodingError) -> Int64 {
        Int64(bitPattern: try readUInt64())
    }

    @inlinable @inline(__always)
    public mutating func readVarint() throws(BinaryDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = offset
        while true {
            let byte = try readUInt8()
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift >= 70 { throw .overlongVarint(offset: start) }
        }
    }

    /// The next `count` bytes, borrowed.
    @inlinable @inline(__always)
    public mutating func readBytes(count: Int) throws(BinaryDecodingError) -> UnsafeRawBufferPointer {
        try need(count)
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: count)
        offset &+= count
        return bytes
    }

    /// A varint length, then that many bytes, borrowed.
    @inlinable @inline(__always)
    public mutating func readLengthPrefixed() throws(BinaryDecodingError) -> UnsafeRawBufferPointer {
        let length = try readVarint()
        guard length <= UInt64(remaining) else { throw .truncated(needed: Int(clamping: length), offset: offset) }
        return try readBytes(count: Int(length))
    }

    /// A varint length, then UTF-8, validated.
    @inlinable @inline(__always)
    public mutating func readString() throws(BinaryDecodingError) -> String {
        let start = offset
        let raw = try readLengthPrefixed()
        // `String(decoding:)` is the fast path but repairs bad input; any repair shows as a
        // difference from the raw bytes.
        var string = String(decoding: raw.assumingMemoryBound(to: UInt8.self), as: UTF8.self)
        let unchanged = string.withUTF8 { utf8 in
            utf8.count == raw.count && (raw.isEmpty || memcmp(utf8.baseAddress!, raw.baseAddress!, raw.count) == 0)
        }
        guard unchanged else { throw .invalidUTF8(offset: start) }
        return string
    }

    /// What ``readString()`` reads, left in place as UTF-8 bytes: no copy, no allocation.
    /// For folds that store the bytes as they are; the buffer lives as long as the reader's.
    @inlinable @inline(__always)
    public mutating func readStringBytes() throws(BinaryDecodingError) -> UnsafeRawBufferPointer {
        try readLengthPrefixed()
    }

    /// A one-byte length, then UTF-8, borrowed.
    @inlinable @inline(__always)
    public mutating func readShortBytes() throws(BinaryDecodingError) -> UnsafeRawBufferPointer {
        let length = try readUInt8()
        return try readBytes(count: Int(length))
    }

    @inlinable @inline(__always)
    public mutating func readUUID() throws(BinaryDecodingError) -> UUID {
        try need(16)
        let value = base.loadUnaligned(fromByteOffset: offset, as: uuid_t.self)
        offset &+= 16
        return UUID(uuid: value)
    }

    /// A presence byte, then the value when present.
    @inlinable @inline(__always)
    public mutating func readOptional<Value>(
        _ readValue: (inout ByteReader) throws(BinaryDecodingError) -> Value
    ) throws(BinaryDecodingError) -> Value? {
        switch try readUInt8() {
        case 0: return nil
        case 1: return try readValue(&self)
        case let other: throw .invalidValue("presence byte \(other)")
        }
    }
}
