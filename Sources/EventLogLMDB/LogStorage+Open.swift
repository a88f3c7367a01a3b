import EventLog
import Foundation
import LMDB

extension LogStorage {
    /// Opens or creates the environment and checks the format marker (see ``LogLayout``).
    static func open(directory: String, options: LMDBEventLog.Options) throws -> LogStorage {
        try prepareDirectory(directory, readOnly: options.readOnly)
        let writableMap = options.writableMap && !options.readOnly
        // A writable map sets the file's length to the map's at open: a file cut short would
        // look whole. It is checked in a read-only opening first (which also names a file it
        // cannot read).
        var file = stat()
        let found = stat(directory + "/data.mdb", &file) == 0 ? file.st_size > 0 : errno != ENOENT
        if writableMap && found {
            let check = try openEnvironment(
                directory, .init(mapSize: options.initialMapSize, maxDatabases: 16, readOnly: true, pooledReaders: 0))
            defer { check.close() }
            try checkWhole(check, directory: directory)
        }
        let environment = try openEnvironment(
            directory,
            .init(
                mapSize: options.initialMapSize, maxDatabases: 16, readOnly: options.readOnly,
                deferredSync: options.deferredSync, writableMap: writableMap))
        do {
            if !writableMap { try checkWhole(environment, directory: directory) }
            // Moving a format-1 log to format 2 writes a link per event before the index
            // it replaces is freed: a full map grows and the move starts again.
            for _ in 0..<48 {
                do {
                    return try checkFormat(environment, directory: directory, options: options)
                } catch let error as LMDBError where error == .mapFull {
                    try growMap(environment)
                }
            }
            throw EventLogError.storageFull(detail: "the map could not grow enough to move the log to format 2")
        } catch {
            environment.close()
            if let error = error as? LMDBError { throw openError(error, directory: directory) }
            throw error
        }
    }

    private static func openEnvironment(_ directory: String, _ options: Environment.Options) throws -> Environment {
        do {
            return try Environment(path: directory, options: options)
        } catch .otherKindOfWriter {
            throw EventLogError.openToOtherWriter(path: directory, byNode: !options.writableMap)
        } catch {
            throw openError(error, directory: directory)
        }
    }

    /// Fails unless the data file holds every page its meta page names.
    private static func checkWhole(_ environment: Environment, directory: String) throws {
        do {
            if let short = try environment.missingPages() {
                throw EventLogError.notAnLMDBEnvironment(
                    path: directory,
                    detail: "data.mdb was cut short: it holds \(short.fileBytes) bytes, its pages reach to "
                        + "\(short.usedBytes) (a partial copy? put a whole copy back)")
            }
        } catch let error as LMDBError {
            throw openError(error, directory: directory)
        }
    }

    private static func prepareDirectory(_ directory: String, readOnly: Bool) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw EventLogError.notADirectory(path: directory) }
        } else {
            if readOnly { throw EventLogError.directoryMissing(path: directory) }
            // mkdir with 0700 itself: a directory created open and tightened afterwards would
            // let others in for a moment (and keep them in, had they opened it meanwhile).
            // Not NSString's deletingLastPathComponent: it traps on a one-character path ("d").
            let parent = URL(fileURLWithPath: directory).deletingLastPathComponent().path
            if !parent.isEmpty {
                try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            }
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
                throw EventLogError.permissionDenied(path: directory, detail: "cannot create it (\(errnoText(errno)))")
            }
        }
        if LMDBEventLog.hasInterruptedImport(in: directory) {
            throw EventLogError.interruptedImport(path: directory)
        }
        if readOnly {
            var file = stat()
            guard stat(directory + "/data.mdb", &file) == 0 else { throw EventLogError.noLog(path: directory) }
            // LMDB would take an empty file for a new environment and fail writing its first
            // pages through a read-only descriptor ("Bad file descriptor").
            if file.st_size == 0 {
                throw EventLogError.notAnLMDBEnvironment(path: directory, detail: "data.mdb is empty")
            }
        } else if access(directory, W_OK) != 0 {
            throw EventLogError.permissionDenied(path: directory, detail: "not writable (\(errnoText(errno)))")
        }
    }

    private static func openError(_ error: LMDBError, directory: String) -> EventLogError {
        switch error.code {
        case LMDBError.invalid.code:
            return .notAnLMDBEnvironment(path: directory, detail: "data.mdb is not an LMDB file")
        case LMDBError.versionMismatch.code:
            return .notAnLMDBEnvironment(path: directory, detail: "lock.mdb was written by another LMDB version")
        case EACCES, EPERM, EROFS:
            return .permissionDenied(path: directory, detail: error.description)
        case ENOENT:
            return .noLog(path: directory)
        case EOPNOTSUPP:
            return .storage(
                detail: "the file system of \(directory) cannot allocate data.mdb's blocks ahead (fallocate), "
                    + "which a cluster node's copy needs: use ext4, xfs or tmpfs")
        default:
            return EventLogError(error)
        }
    }

    private static func checkFormat(
        _ environment: Environment, directory: String, options: LMDBEventLog.Options
    ) throws -> LogStorage {
        // A writer without the map is refused before it waits for LMDB's writer lock, which a
        // node making its copy again holds for as long as the copy takes (a running node is
        // refused earlier, by the writers' lock of its kind: this check serves any other).
        if !options.readOnly && !options.writableMap, try isWrittenInMap(environment) {
            throw EventLogError.writtenInMap(path: directory)
        }
        let txn = try environment.beginTransaction(readOnly: options.readOnly)
        guard let meta = try txn.openDatabase(LogLayout.metaDatabase) else {
            let found = try describeMainDatabase(txn)
            guard found.isEmpty else { throw EventLogError.foreignDatabase(path: directory, found: found) }
            if options.readOnly { throw EventLogError.noLog(path: directory) }
            let meta = try txn.openDatabase(LogLayout.metaDatabase, flags: .create)!
            let events = try txn.openDatabase(LogLayout.eventsDatabase, flags: .create)!
            let heads = try txn.openDatabase(LogLayout.headsDatabase, flags: .create)!
            let links = try txn.openDatabase(LogLayout.linksDatabase, flags: .create)!
            let unique = try txn.openDatabase(LogLayout.uniqueDatabase, flags: .create)!
            try LogLayout.formatKey.withUnsafeBytes { key in
                try Array(LogLayout.formatMarker.utf8).withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
            }
            if options.writableMap { try markWrittenInMap(meta, in: txn) }
            try txn.commit()
            return LogStorage(
                environment: environment, events: events, index: .heads(heads: heads, links: links), unique: unique,
                meta: meta, clock: options.clock)
        }
        let marker = try LogLayout.formatKey.withUnsafeBytes { key in
            try txn.get(meta, key: key).map { String(decoding: $0, as: UTF8.self) }
        }
        guard let marker else {
            throw EventLogError.foreignDatabase(path: directory, found: "a 'meta' database without a format marker")
        }
        let parts = marker.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, parts[0] == LogLayout.formatName, let version = Int(parts[1]), version >= 1 else {
            throw EventLogError.foreignDatabase(path: directory, found: "format marker '\(marker.prefix(80))'")
        }
        guard version <= LogLayout.formatVersion else {
            throw EventLogError.newerFormat(path: directory, found: marker, supported: LogLayout.formatMarker)
        }
        guard let events = try txn.openDatabase(LogLayout.eventsDatabase),
            let unique = try txn.openDatabase(LogLayout.uniqueDatabase)
        else {
            throw EventLogError.corrupt(
                position: 0, detail: "format marker present but a database of the log is missing")
        }
        // Decided in the write transaction, under LMDB's writer lock. A log is marked when it is
        // made with the map, or by the node once it knows the directory holds its copy
        // (``LMDBEventLog/markWrittenInMap()``), never just for being opened with the map.
        if !options.readOnly && !options.writableMap, try isWrittenInMap(meta, in: txn) {
            throw EventLogError.writtenInMap(path: directory)
        }
        let index: StreamIndex
        if version == LogLayout.perEventIndexFormat {
            guard let streams = try txn.openDatabase(LogLayout.streamsDatabase) else {
                throw EventLogError.corrupt(position: 0, detail: "a format-1 log without its stream index")
            }
            if options.readOnly {
                index = .perEvent(streams: streams)
            } else {
                index = try moveToHeads(from: streams, events: events, in: txn)
                try LogLayout.formatKey.withUnsafeBytes { key in
                    try Array(LogLayout.formatMarker.utf8).withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
                }
            }
        } else {
            guard let heads = try txn.openDatabase(LogLayout.headsDatabase),
                let links = try txn.openDatabase(LogLayout.linksDatabase)
            else {
                throw EventLogError.corrupt(
                    position: 0, detail: "format marker present but a database of the log is missing")
            }
            index = .heads(heads: heads, links: links)
        }
        try txn.commit()  // a committed read transaction keeps its database handles open
        return LogStorage(
            environment: environment, events: events, index: index, unique: unique, meta: meta, clock: options.clock)
    }

    /// Whether the log is marked as written in a map (see ``LogLayout``), read in a read-only
    /// transaction; false when there is no log yet.
    static func isWrittenInMap(_ environment: Environment) throws -> Bool {
        let txn = try environment.beginTransaction(readOnly: true)
        guard let meta = try txn.openDatabase(LogLayout.metaDatabase) else { return false }
        return try isWrittenInMap(meta, in: txn)
    }

    /// Whether `meta` holds the written-in-map mark, in `txn`.
    static func isWrittenInMap(_ meta: Database, in txn: borrowing Transaction) throws -> Bool {
        try LogLayout.writtenInMapKey.withUnsafeBytes { try txn.get(meta, key: $0) } != nil
    }

    /// Records that a writer with a writable map uses the log (see ``LogLayout``).
    static func markWrittenInMap(_ meta: Database, in txn: borrowing Transaction) throws {
        try LogLayout.writtenInMapKey.withUnsafeBytes { key in
            try Array("1".utf8).withUnsafeBytes { try txn.put(meta, key: key, value: $0) }
        }
    }

    /// Up to five keys of the main database, for an error about a foreign environment.
    private static func describeMainDatabase(_ txn: borrowing Transaction) throws -> String {
        guard let main = try txn.openDatabase(nil) else { return "" }
        return try txn.withCursor(main) { cursor in
            var names: [String] = []
            var total = 0
            var entry = try cursor.first()
            while let current = entry {
                if names.count < 5 {
                    let printable = String(decoding: current.key.prefix(40), as: UTF8.self).map {
                        $0.isLetter || $0.isNumber || "-_.:/".contains($0) ? String($0) : "?"
                    }
                    names.append("'\(printable.joined())'")
                }
                total += 1
                entry = try cursor.next()
            }
            guard total > 0 else { return "" }
            return "\(total) entries in the main database: \(names.joined(separator: ", "))\(total > 5 ? ", ..." : "")"
        }
    }
}

func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
