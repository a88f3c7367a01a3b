import EventLog
import EventLogLMDB
import Foundation

extension LogMirror {
    /// Whether `error`, met while opening a node's copy or catching it up, means the copy
    /// cannot serve and is to be moved aside and made again from the shared log: the shared
    /// log does not continue it (``Failure/diverged``), or its files are not a readable log (a copy
    /// written with deferred sync, on a file system that does not keep write order, may be left
    /// so by a system crash). Anything else (a permission, the shared log unreachable) is not.
    /// A shared log that is broken or unsigned (``Failure/broken``, ``Failure/unsigned``) is
    /// not the copy's fault: moving the copy aside would not mend it.
    public static func isUnusableCopy(_ error: any Error) -> Bool {
        if case .diverged = error as? Failure { return true }
        switch error as? EventLogError {
        case .notAnLMDBEnvironment, .corrupt: return true
        default: return false
        }
    }

    /// Moves the LMDB files of the copy in `data` into a new `data/diverged-TIME` directory
    /// (0700), kept for whoever wants to look at what it held; returns that directory. The
    /// rest of `data` (mail, keys) stays. Refused, with nothing moved, while a writer of
    /// either kind has the files open (``EventLogError/openToWriter(path:)``): the caller has
    /// closed its own.
    public static func moveCopyAside(in data: String) throws -> String {
        let writers = try LMDBEventLog.excludingWriters(directory: data)
        defer { writers.release() }
        let aside = try makeAsideDirectory(in: data)
        for name in ["data.mdb", "lock.mdb"] where FileManager.default.fileExists(atPath: data + "/" + name) {
            try FileManager.default.moveItem(atPath: data + "/" + name, toPath: aside + "/" + name)
        }
        return aside
    }

    /// Copies kept aside in one data directory at most: beyond, a copy made again is not
    /// written aside (a shared log made to diverge again and again must not fill the disk).
    public static let asideLimit = 3

    /// Writes a compacted copy of `local`, as it stands, into a new `diverged-TIME` directory
    /// (0700; its file 0600) in its directory; returns that directory. For a copy about to be
    /// made again in place (``Divergence/copyAgain``). Refuses when ``asideLimit`` copies are
    /// there already.
    static func writeCopyAside(of local: LMDBEventLog) throws -> String {
        let kept = (try? FileManager.default.contentsOfDirectory(atPath: local.directory))?.filter {
            $0.hasPrefix("diverged-")
        }
        if let kept, kept.count >= asideLimit {
            throw AsideLimitReached(
                description:
                    "\(kept.count) copies are kept aside already in \(local.directory); delete those no longer needed")
        }
        let aside = try makeAsideDirectory(in: local.directory)
        do {
            try local.environment.copy(toDirectory: aside)
            guard chmod(aside + "/data.mdb", 0o600) == 0 else {
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: aside)
            throw error
        }
        return aside
    }

    /// A new, empty `data/diverged-TIME` directory, 0700 from its creation.
    static func makeAsideDirectory(in data: String) throws -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withTimeZone, .withFractionalSeconds]
        let stamp = formatter.string(from: Date()).replacingOccurrences(of: ":", with: "")
        let aside = data + "/diverged-" + stamp
        guard mkdir(aside, 0o700) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        return aside
    }

    struct AsideLimitReached: Error, CustomStringConvertible {
        var description: String
    }
}
