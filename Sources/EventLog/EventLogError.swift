import Foundation

/// Everything that can go wrong with the log, each case with what a person needs to act.
public enum EventLogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The stream is not at the expected version; nothing was written.
    case conflict(stream: UUID, expected: ExpectedVersion, actual: UInt64)
    /// Another stream holds a key this append claims; nothing was written.
    case uniqueViolation(scope: String)
    case invalidEvent(String)
    case payloadTooLarge(size: Int, limit: Int)
    case tooManyEvents(count: Int, limit: Int)
    case emptyAppend
    /// A read-only open found no directory there.
    case directoryMissing(path: String)
    case notADirectory(path: String)
    case permissionDenied(path: String, detail: String)
    /// The data directory holds something that is not an LMDB environment.
    case notAnLMDBEnvironment(path: String, detail: String)
    /// An LMDB environment that some other program wrote.
    case foreignDatabase(path: String, found: String)
    /// An Authlog log written by a newer build.
    case newerFormat(path: String, found: String, supported: String)
    case noLog(path: String)
    case readOnly
    /// The disk (or file-size limit) is full; the batch was not acknowledged.
    case storageFull(detail: String)
    /// Writing the batch failed for another reason; it was not acknowledged.
    case writeFailed(detail: String)
    case closed
    case corrupt(position: UInt64, detail: String)
    case storage(detail: String)
    /// A writer with the signing key found a log with events but no signed checkpoint (one
    /// written before signing): it signs nothing it has not checked.
    case unsignedLog(events: UInt64)
    /// A writer with the signing key found the log's signed head not matching its events.
    case checkpointRefused(String)
    /// An import was stopped after it moved its key store into the directory and before it
    /// moved its log: opening would start an empty log beside the imported keys.
    case interruptedImport(path: String)
    /// A writer without a writable map opening a log that writers with one use (a cluster
    /// node's copy): LMDB's two kinds of writer must not share an environment.
    case writtenInMap(path: String)
    /// A writer of the other kind has the log open now: a cluster node (or authctl with
    /// `--log-url`), writing in a map, when `byNode`; otherwise a writer without the map (an
    /// embedded authd, or authctl without `--log-url`). The log was not touched.
    case openToOtherWriter(path: String, byNode: Bool)
    /// A writer of either kind has the log open, so its files cannot be moved; none was.
    case openToWriter(path: String)

    public var description: String {
        switch self {
        case .conflict(let stream, let expected, let actual):
            let found = actual == 0 ? "no stream" : "version \(actual)"
            return "conflict on stream \(stream.uuidString.lowercased()): expected \(expected), found \(found)"
        case .uniqueViolation(let scope): return "another stream holds this \(scope)"
        case .invalidEvent(let reason): return "invalid event: \(reason)"
        case .payloadTooLarge(let size, let limit):
            return "payload of \(size) bytes is over the limit of \(limit) bytes"
        case .tooManyEvents(let count, let limit):
            return "an append of \(count) events is over the limit of \(limit)"
        case .emptyAppend: return "an append needs at least one event"
        case .directoryMissing(let path): return "no data directory at \(path)"
        case .notADirectory(let path): return "\(path) is not a directory"
        case .permissionDenied(let path, let detail): return "cannot use data directory \(path): \(detail)"
        case .notAnLMDBEnvironment(let path, let detail):
            return "\(path) does not hold an LMDB environment: \(detail)"
        case .foreignDatabase(let path, let found):
            return "\(path) holds an LMDB environment that is not an Authlog event log (found \(found))"
        case .newerFormat(let path, let found, let supported):
            return "\(path) holds a log in format \(found), newer than this build supports (\(supported))"
        case .noLog(let path): return "no event log in \(path)"
        case .readOnly: return "the log was opened read-only"
        case .storageFull(let detail): return "storage full, nothing was acknowledged: \(detail)"
        case .writeFailed(let detail): return "write failed, nothing was acknowledged: \(detail)"
        case .closed: return "the log is closed"
        case .corrupt(let position, let detail): return "corrupt event at position \(position): \(detail)"
        case .storage(let detail): return "storage error: \(detail)"
        case .unsignedLog(let events):
            return
                "the log holds \(events) events but no signed checkpoint (it was written before signing); check it with `authctl verify`, then sign its head once with `authctl sign-head`"
        case .checkpointRefused(let detail): return "the log's signed checkpoint refuses this log: \(detail)"
        case .interruptedImport(let path):
            return
                "an import into \(path) was stopped while moving its files into place (its log is still in \(path)/import.partial); run `authctl import` again to finish it"
        case .writtenInMap(let path):
            return
                "\(path) holds a log written by a cluster node (in a writable map): only a node, or authctl with --log-url, may write it; to use its events as an embedded log, export them from the shared log (authctl --log-url URL export) and import them into a new directory"
        case .openToOtherWriter(let path, byNode: true):
            return
                "\(path) is being written by a cluster node, or authctl with --log-url (in a writable map): only those may write it while they run"
        case .openToOtherWriter(let path, byNode: false):
            return
                "\(path) is being written without the shared log (an embedded authd, or authctl without --log-url): stop that first; a node or authctl with --log-url must not share it"
        case .openToWriter(let path):
            return "\(path) is open to a writer (authd, or authctl): stop it first; nothing was moved"
        }
    }
}

extension EventLogError {
    /// The head record's time is not the time its signed checkpoint holds. A commit's events
    /// take the later of the clock and the head's time: a head time rewritten without the key
    /// (to a far future, say) would be carried, and signed, by every later event.
    public static let headTimeRewritten = EventLogError.checkpointRefused(
        "the head's time differs from the signed one: the head record was rewritten without the signing key")
}
