import EventLog
import Foundation

/// Where an import builds a data directory before it moves the result into place, and how
/// an import stopped during those moves is recognised.
///
/// Rules (the import's side is in `authctl import`):
/// - an import stages its log and key store in `DATA/import.partial`; once both are complete
///   (verified and closed) it creates the file `import.partial/moving` (synced), then moves
///   the key store, then the log, then removes the staging directory;
/// - a staging directory that holds `moving` and a log but no key store, beside a data
///   directory without a log, is an import stopped between its two moves. No writer opens
///   such a directory (it would start an empty log beside the imported keys and strand the
///   imported log); the next import moves the log into place;
/// - any other staging directory is left by an import stopped before its moves: the data
///   directory is as it was, and the next import removes it.
extension LMDBEventLog {
    /// The staging directory's name inside the data directory.
    public static let importStagingName = "import.partial"
    /// The file in the staging directory that says its log and key store are complete.
    public static let importMovingMarker = "moving"

    /// Whether `directory` holds an import stopped between moving its key store and its log.
    public static func hasInterruptedImport(in directory: String) -> Bool {
        let staging = directory + "/" + importStagingName
        let files = FileManager.default
        return files.fileExists(atPath: staging + "/" + importMovingMarker)
            && files.fileExists(atPath: staging + "/data.mdb") && !files.fileExists(atPath: staging + "/keys")
            && !files.fileExists(atPath: directory + "/data.mdb")
    }

    /// Whether `directory` holds a staging directory at all (an import running, or stopped).
    public static func hasImportStaging(in directory: String) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/" + importStagingName)
    }
}
