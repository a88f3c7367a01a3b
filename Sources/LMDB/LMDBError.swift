import CLMDB

/// An error code returned by LMDB, or an `errno` value LMDB passed through.
///
/// LMDB's own codes are negative (`MDB_KEYEXIST` ... `MDB_BAD_DBI`); system errors such as
/// `ENOSPC` or `EACCES` are positive. `description` is LMDB's own message for either.
public struct LMDBError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Int32

    public init(code: Int32) {
        self.code = code
    }

    public var description: String {
        if self == .otherKindOfWriter {
            return
                "another process writes this environment with the other kind of writer (with or without a writable map)"
        }
        if self == .writerOpen { return "a writer has this environment open" }
        return String(cString: mdb_strerror(code))
    }

    public static let keyExists = LMDBError(code: MDB_KEYEXIST)
    public static let notFound = LMDBError(code: MDB_NOTFOUND)
    public static let mapFull = LMDBError(code: MDB_MAP_FULL)
    public static let mapResized = LMDBError(code: MDB_MAP_RESIZED)
    public static let invalid = LMDBError(code: MDB_INVALID)
    public static let versionMismatch = LMDBError(code: MDB_VERSION_MISMATCH)
    public static let incompatible = LMDBError(code: MDB_INCOMPATIBLE)
    public static let databasesFull = LMDBError(code: MDB_DBS_FULL)
    public static let noSpace = LMDBError(code: 28)  // ENOSPC
    public static let fileTooLarge = LMDBError(code: 27)  // EFBIG
}

/// Turns an LMDB return code into a thrown `LMDBError`.
@inline(__always)
func check(_ code: Int32) throws(LMDBError) {
    if code != 0 { throw LMDBError(code: code) }
}
