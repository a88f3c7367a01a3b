import EventLog
import Foundation
import LMDB

/// Where each projection stands: its version, which of its two generations of databases is
/// live, and its checkpoint (the last log position folded into the live generation).
///
/// Stored in the `projections` database: name -> u32 version, u8 generation, u64 checkpoint
/// (all big-endian). Readers read it inside their own read transaction, so they always use
/// one consistent generation; a rebuild fills the other generation and switches this entry
/// in the transaction that ends it.
public struct CatalogEntry: Hashable, Sendable {
    public var version: UInt32
    public var generation: Int
    public var checkpoint: UInt64

    static let size = 13

    init(version: UInt32, generation: Int, checkpoint: UInt64) {
        self.version = version
        self.generation = generation
        self.checkpoint = checkpoint
    }

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.size else { return nil }
        version = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        generation = Int(bytes[4] & 1)
        checkpoint = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 5, as: UInt64.self))
    }

    var bytes: [UInt8] {
        var writer = ByteWriter(capacity: Self.size)
        writer.write(version)
        writer.write(UInt8(generation))
        writer.write(checkpoint)
        return writer.bytes
    }
}

extension CatalogEntry: CustomStringConvertible {
    public var description: String { "version \(version), generation \(generation), checkpoint \(checkpoint)" }
}
