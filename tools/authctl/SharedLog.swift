import ArgumentParser
import DataProtection
import EventLog
import EventLogLMDB
import EventLogPostgres
import Foundation
import KeyStorePostgres
import LogMirror
import Projections

/// authctl on the shared log (`--log-url`, a cluster's log on PostgreSQL).
///
/// Rules:
/// - Write commands append to the shared log itself, signing with the log's key, and read the
///   users they change by folding their streams from it (``FoldedUserStates``).
/// - Read commands that need the projections run on a local copy kept by ``LogMirror``: the
///   named data directory's copy (`--data` or AUTHLOG_DATA: a node's directory, which they
///   catch up, beside a running authd), or else a temporary copy (0700) made for the command
///   and removed when it ends.
/// - verify, head, sign-head and export read the shared log directly.
/// - The data keys come from ``openSharedKeys(_:readOnly:mayGenerateKey:)`` only.

/// What authctl needs of the key store that serves the shared log, beyond the port every
/// reader and writer uses: the wrapped slots an export writes and an import restores.
protocol SharedKeyStore: DataKeyStore {
    /// The key-encryption key's check value (an export's header).
    var keyCheck: [UInt8] { get }
    /// The log's signing key, wrapped, if the store holds it itself.
    var storedLogSigningSlot: [UInt8]? { get }
    /// A user's key as stored (wrapped), or `nil`.
    func storedSlot(for user: UUID) throws -> [UInt8]?
    /// Stores exported slots; refuses a user who has a key here already.
    func importSlots(_ slots: [[UInt8]]) throws
    /// Keeps the log's signing key from an export (only into a store without data keys).
    func adoptLogSigningSlot(_ slot: [UInt8]) throws
    /// The key that seals the data directory's other secrets (webhook secrets), or `nil`
    /// when the store holds no key.
    var fileSealingKey: FileSealingKey? { get }
}

extension KeyStore: SharedKeyStore {}

/// Opens the key store that serves the shared log: the one place authctl does so.
///
/// With `--log-url`: the shared database's store (``PostgresKeyStore``), as every node opens
/// it, with the cluster's key-encryption key (AUTHLOG_KEK, AUTHLOG_KEK_FILE or DATA/kek).
/// Without: the data directory's file store.
func openSharedKeys(_ root: Authctl, readOnly: Bool = false, mayGenerateKey: Bool = true) throws
    -> any SharedKeyStore
{
    guard let url = root.logURL else {
        if !readOnly { try failing { try SecretFile.makeDirectory(root.data) } }
        let keys = try failing {
            try KeyStore(dataDirectory: root.data, readOnly: readOnly, mayGenerateKey: mayGenerateKey)
        }
        if !readOnly { reportRepairs(keys) }
        return keys
    }
    return try openPostgresKeys(root, url: url, makingStore: !readOnly)
}

/// The key store of the shared database at `url`, or a one-line error and exit 2. The
/// cluster's key-encryption key is never generated here: a key of its own would read nothing
/// the nodes wrote (the shared store refuses it by its check value). A database without the
/// shared log is refused and left as it was, unless `makingLog` (see ``openSharedLog(_:makingLog:)``);
/// so is one without the key store, unless `makingStore` (a command that writes): a read must
/// not make the store, and so fix the cluster's key-encryption key, with whatever key it has.
func openPostgresKeys(_ root: Authctl, url: String, makingLog: Bool = false, makingStore: Bool = true) throws
    -> PostgresKeyStore
{
    try failing {
        let kek = try KeyEncryptionKey.load(
            dataDirectory: root.data, environment: ProcessInfo.processInfo.environment, mayGenerate: false
        ).key
        return try namingMissingLog {
            try PostgresKeyStore(
                url: url, kek: kek, createLogIfMissing: makingLog, createStoreIfMissing: makingStore)
        }
    }
}

extension PostgresKeyStore: SharedKeyStore {}

/// Opens the shared log `url` names, or a one-line error and exit 2.
///
/// Only `init` and `import` make the log's tables in a database that has none
/// (`makingLog`); every other command refuses such a database and leaves it as it was, so a
/// mistyped URL names the mistake instead of starting an empty log (and key store) there.
func openSharedLog(_ url: String, makingLog: Bool = false) throws -> PostgresEventLog {
    try failing { try namingMissingLog { try PostgresEventLog(url: url, options: .init(createIfMissing: makingLog)) } }
}

/// A database without the shared log, named by a command that needs one.
struct NoSharedLog: Error, CustomStringConvertible {
    let location: String
    var description: String {
        "no shared log in \(location): check --log-url, or make one with `authctl --log-url URL init`"
    }
}

private func namingMissingLog<Result>(_ body: () throws -> Result) throws -> Result {
    do {
        return try body()
    } catch EventLogError.noLog(let location) {
        throw NoSharedLog(location: location)
    }
}

/// A local copy of the shared log with its users projection, caught up with the shared log
/// when opened (see the rules above).
final class SharedCopy {
    let shared: PostgresEventLog
    let local: LMDBEventLog
    let keys: any SharedKeyStore
    let projection: UserProjection
    let mirror: LogMirror
    /// The temporary directory the copy lives in, removed by ``close()``; `nil` for a named
    /// data directory.
    let temporary: String?
    /// Where an unusable copy was moved, if it was (see `remakeUnusable`).
    let movedAside: String?
    private var closed = false

    /// `needsKeys: false` goes on without the key store if it cannot be opened (personal
    /// fields then read back empty). `remakeUnusable`: a named directory's copy that the shared
    /// log does not continue, or that cannot be read, is moved aside into `diverged-TIME` and
    /// copied again (``movedAside`` says where), as authd does at start; otherwise that is a
    /// one-line error.
    init(root: Authctl, url: String, needsKeys: Bool = true, remakeUnusable: Bool = false) throws {
        // The shared log first: a database without one is named once, and nothing is made for it.
        let shared = try openSharedLog(url)
        self.shared = shared
        let keys: any SharedKeyStore
        do {
            keys = try openSharedKeys(root, readOnly: true)
        } catch  where !needsKeys {
            keys = KeyStore.locked()
        }
        self.keys = keys
        let directory: String
        if root.dataGiven {
            directory = root.data
            try checkDataDirectory(directory, readOnly: false)
            temporary = nil
        } else {
            directory = try failing { try makeTemporaryDirectory() }
            temporary = directory
        }
        var movedAside: String?
        while true {
            do {
                (local, projection, mirror) = try Self.copy(shared, into: directory, keys: keys)
                break
            } catch let error
                where remakeUnusable && temporary == nil && movedAside == nil
                && LogMirror.isUnusableCopy(error)
            {
                do {
                    movedAside = try LogMirror.moveCopyAside(in: directory)
                } catch {
                    shared.close()
                    printError("authctl: \(directory): cannot move the copy aside: \(error)")
                    throw ExitCode(2)
                }
            } catch {
                shared.close()
                if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
                var advice = ""
                if case .diverged = error as? LogMirror.Failure {
                    advice = "; `authctl rebuild --log-url URL --data \(directory)` copies it again"
                }
                printError("authctl: \(directory): cannot copy the shared log: \(error)\(advice)")
                throw ExitCode(2)
            }
        }
        self.movedAside = movedAside
    }

    /// Opens the copy in `directory` and catches it up with `shared`; closes what it opened
    /// if that fails.
    private static func copy(_ shared: PostgresEventLog, into directory: String, keys: any SharedKeyStore) throws -> (
        LMDBEventLog, UserProjection, LogMirror
    ) {
        let local = try LMDBEventLog(directory: directory, options: LogMirror.copyOptions())
        do {
            let projection = try UserProjection(log: local, keys: keys)
            let mirror = try LogMirror(shared: shared, local: local, projection: projection, keys: keys)
            try mirror.catchUp()
            return (local, projection, mirror)
        } catch {
            local.close()
            throw error
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        shared.close()
        local.close()
        if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
    }

    deinit { close() }
}

/// A new directory (0700) under the temporary directory, for a command's own copy.
func makeTemporaryDirectory() throws -> String {
    let base = (ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
    var template = Array((base + "/authctl-copy-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else {
        throw DataProtectionError.keyStore(
            "cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
    }
    return String(cString: made)
}
