import CLMDB
import Glibc

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
        if let journalDescription { return journalDescription }
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

extension LMDBError {
    /// `journal.checkpoint` holds no valid checkpoint, or a record does not parse.
    public static let journalUnreadable = LMDBError(code: EBADMSG)
    /// The journal's checkpoint names another `data.mdb` (replaced since): it is not applied.
    public static let journalOfAnotherFile = LMDBError(code: ESTALE)
    /// A journaled writer has the environment open, or (for a journaled writer, or a replay
    /// after a power loss) another process has.
    public static let journalInUse = LMDBError(code: EALREADY)
    /// The journal must be replayed (after a power loss) before a reader may open.
    public static let journalNeedsReplay = LMDBError(code: ERESTART)

    var journalDescription: String? {
        switch self {
        case .journalUnreadable: return "the journal (journal.checkpoint or a record) is unreadable"
        case .journalOfAnotherFile:
            return "the journal belongs to another data.mdb (was data.mdb replaced?): it was not applied"
        case .journalInUse:
            return "a journaled writer has this environment open, or another process has while one would open"
        case .journalNeedsReplay:
            return "the journal holds commits data.mdb may lack after a restart of the system: open it to write first"
        default: return nil
        }
    }
}
