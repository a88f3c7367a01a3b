import CLMDB

/// A named database inside an environment. Handles stay valid for the environment's life.
public struct Database: Hashable, Sendable {
    public let id: MDB_dbi

    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let create = Flags(rawValue: UInt32(MDB_CREATE))
        public static let integerKey = Flags(rawValue: UInt32(MDB_INTEGERKEY))
        public static let duplicateSort = Flags(rawValue: UInt32(MDB_DUPSORT))
    }
}

/// Flags for a single put.
public struct WriteFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Fail with `keyExists` rather than overwrite.
    public static let noOverwrite = WriteFlags(rawValue: UInt32(MDB_NOOVERWRITE))
    /// The key sorts after every key already there: LMDB skips the search and packs pages full.
    public static let append = WriteFlags(rawValue: UInt32(MDB_APPEND))
}

extension MDB_val {
    init(_ buffer: UnsafeRawBufferPointer) {
        self.init(mv_size: buffer.count, mv_data: UnsafeMutableRawPointer(mutating: buffer.baseAddress))
    }

    var buffer: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mv_data, count: mv_size)
    }
}
