import EventLog
import Foundation

/// Where an import builds a data directory before it moves the result into place, and how
/// an import stopped during those moves is recognised.
///
/// Rules (the import's side is in `authctl import`):
/// - an import stages its log and key store in `DATA/import.partial`, then moves the key
///   store, then the log, then removes the staging directory;
/// - a staging directory that holds a log but no key store, beside a data directory without
///   a log, is an import stopped between its two moves: its log is complete (it is moved only
///   after it verified and was closed). No writer opens such a directory (it would start an
///   empty log beside the imported keys and strand the imported log); the next import moves
///   the log into place;
/// - any other staging directory is left by an import stopped before its moves: the data
///   directory is as it was, and the next import removes it.
extension LMDBEventLog {
    /// The staging directory's name inside the data directory.
    public static let importStagingName = "import.partial"

    /// Whether `directory` holds an import stopped between moving its key store and its log.
    public static func hasInterruptedImport(in directory: String) -> Bool {
        let staging = directory + "/" + importStagingName
        let files = FileManager.default
        return !files.fileExists(atPath: directory + "/data.mdb") && files.fileExists(atPath: staging + "/data.mdb")
            && !files.fileExists(atPath: staging + "/keys")
    }

    /// Whether `directory` holds a staging directory at all (an import running, or stopped).
    public static func hasImportStaging(in directory: String) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/" + importStagingName)
    }
}
