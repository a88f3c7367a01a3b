import EventLog
import LMDB

extension LMDBEventLog {
    /// Both kinds of writer kept out of a data directory (``WriterKindLock``) until
    /// ``release()``: no authd, node or authctl has its log open to write, and none opens it
    /// meanwhile. For moving the log's files into or out of the directory.
    public struct WritersExcluded: Sendable {
        let lock: WriterKindLock

        /// Lets writers in again; later calls do nothing.
        public func release() { lock.release() }
    }

    /// Keeps writers out of the existing directory `directory`, without waiting for one (only
    /// for another process's look at the lock files): throws
    /// ``EventLogError/openToWriter(path:)`` while one has its log open.
    public static func excludingWriters(directory: String) throws -> WritersExcluded {
        do {
            return WritersExcluded(lock: try WriterKindLock.excludingWriters(directory: directory))
        } catch let error where error == .writerOpen {
            throw EventLogError.openToWriter(path: directory)
        } catch {
            throw EventLogError.storage(detail: "\(directory): \(error)")
        }
    }

    /// Whether a writer (authd, a node, or authctl) has the log in `directory` open now, or
    /// its files are held to be moved; makes no file where no writer has. A writer may open it
    /// right after: to move files in, keep writers out (``excludingWriters(directory:)``).
    public static func isOpenToWriters(directory: String) throws -> Bool {
        do {
            return try WriterKindLock.isOpenToWriters(directory: directory)
        } catch {
            throw EventLogError.storage(detail: "\(directory): \(error)")
        }
    }
}
