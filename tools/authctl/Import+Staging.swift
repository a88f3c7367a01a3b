import ArgumentParser
import DataProtection
import EventLogLMDB
import Foundation
import LogExport

/// All or nothing: an import writes into a staging directory and moves the finished files
/// into the data directory only when every line checked out.
///
/// Rules:
/// - the data directory must hold no event and no data key (an empty log or key store, or
///   none, is fine; so is a `kek` copied in);
/// - the staging directory is `DATA/import.partial` (0700), on the same file system, so the
///   moves are renames; one left by an interrupted import is removed first;
/// - on any refusal the staging directory is removed and nothing else was touched;
/// - no writer has the data directory open: checked before the staging starts, and writers
///   are kept out (``LMDBEventLog/excludingWriters(directory:)``) while the directory is
///   checked again for events and data keys and the files move in;
/// - once both are complete the staging directory gets its `moving` marker; then the key
///   store moves first, then the log: a crash between the two leaves data keys
///   without events and the finished log in the staging directory (never a log whose keys
///   are missing). No writer opens that directory (see ``LMDBEventLog/hasInterruptedImport(in:)``);
///   the next import moves the staged log into place, says so, and then refuses to import
///   again into the directory that now holds it.
extension Import {
    static let stagingName = LMDBEventLog.importStagingName

    /// Finishes an import stopped between its two moves: moves the staged log into place and
    /// removes the staging directory. Says so on stderr; does nothing for any other directory.
    func finishInterruptedImport(_ directory: String) throws {
        guard LMDBEventLog.hasInterruptedImport(in: directory) else { return }
        let writers = try failing { try LMDBEventLog.excludingWriters(directory: directory) }
        defer { writers.release() }
        let staging = directory + "/" + Self.stagingName
        guard rename(staging + "/data.mdb", directory + "/data.mdb") == 0 else {
            printError(
                "authctl: cannot move \(staging)/data.mdb into \(directory): \(String(cString: strerror(errno)))")
            throw ExitCode(2)
        }
        try? FileManager.default.removeItem(atPath: staging)
        syncDirectory(directory)
        printError(
            "authctl: \(directory): an earlier import was stopped while moving its files into place; "
                + "its log is now in place too (check it with `authctl verify`)")
    }

    /// Refuses (exit 2) a data directory that holds events or data keys, reading it read-only,
    /// or that a writer has open (``install(_:into:)`` would then be refused).
    func refuseUnlessEmpty(_ directory: String) throws {
        try failing { try SecretFile.secureDirectory(directory, readOnly: false) }
        try refuseHeldData(directory)
        if FileManager.default.fileExists(atPath: directory),
            try failing({ try LMDBEventLog.isOpenToWriters(directory: directory) })
        {
            printError(
                "authctl: \(directory) is open to a writer (authd, or authctl): stop it first; nothing was imported")
            throw ExitCode(2)
        }
    }

    /// Refuses (exit 2) a data directory whose log holds events or whose key store holds data
    /// keys, reading them read-only.
    func refuseHeldData(_ directory: String) throws {
        if FileManager.default.fileExists(atPath: directory + "/data.mdb") {
            let log = try failing { try LMDBEventLog(directory: directory, options: .init(readOnly: true)) }
            defer { log.close() }
            let existing = try failing { try log.headPosition() }
            guard existing == 0 else {
                printError(
                    "authctl: \(directory) already holds \(existing) events; import needs an empty data directory")
                throw ExitCode(2)
            }
        }
        if FileManager.default.fileExists(atPath: directory + "/keys") {
            let keys = try failing { try KeyStore(dataDirectory: directory, readOnly: true) }
            let held = try failing { try keys.users().count }
            guard held == 0 else {
                printError(
                    "authctl: \(directory)/keys already holds \(held) data keys; import needs an empty data directory "
                        + "(remove the keys file if it was left by an interrupted import)")
                throw ExitCode(2)
            }
        }
    }

    /// A fresh, empty staging directory (0700) inside `directory`, which is created if missing.
    func makeStaging(in directory: String) throws -> String {
        try SecretFile.makeDirectory(directory)
        let staging = directory + "/" + Self.stagingName
        if FileManager.default.fileExists(atPath: staging) { try FileManager.default.removeItem(atPath: staging) }
        try SecretFile.makeDirectory(staging)
        return staging
    }

    /// Moves the staged key store and log into `directory` and removes the staging directory.
    /// When the key store cannot move, the staging directory is removed (nothing moved); when
    /// the log cannot move after it, the staging directory stays for the next import to finish.
    func install(_ staging: String, into directory: String) throws {
        let writers: LMDBEventLog.WritersExcluded
        do {
            writers = try LMDBEventLog.excludingWriters(directory: directory)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        defer { writers.release() }
        do {
            // A writer may have come and gone since the first look: what it left would be
            // replaced by the renames below.
            try refuseHeldData(directory)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        let marker = open(
            staging + "/" + LMDBEventLog.importMovingMarker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard marker >= 0, fsync(marker) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: staging)
            throw ImportFault("cannot mark \(staging) complete: \(reason)")
        }
        close(marker)
        syncDirectory(staging)
        for name in ["keys", "data.mdb"] {
            guard rename(staging + "/" + name, directory + "/" + name) == 0 else {
                let reason = String(cString: strerror(errno))
                if name == "keys" { try? FileManager.default.removeItem(atPath: staging) }
                throw ImportFault("cannot move \(staging)/\(name) into \(directory): \(reason)")
            }
        }
        try FileManager.default.removeItem(atPath: staging)
        syncDirectory(directory)
    }
}

/// Syncs a directory's entries (after renames into it).
func syncDirectory(_ directory: String) {
    let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if descriptor >= 0 {
        fsync(descriptor)
        close(descriptor)
    }
}
