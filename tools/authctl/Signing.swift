import ArgumentParser
import DataProtection
import EventLog
import EventLogLMDB
import EventLogPostgres
import Foundation
import LogExport
import Signatures

/// Makes `log` sign every commit with the key derived from `keys`' key-encryption key, after
/// checking that what it holds was signed by it; a one-line error and exit 2 otherwise.
func startSigning(_ log: LMDBEventLog, keys: KeyStore, adoptUnsigned: Bool = false) throws {
    guard let key = keys.logSigningKey else {
        printError("authctl: no key-encryption key: writing to the log needs it to sign")
        throw ExitCode(2)
    }
    try failing { try log.startSigning(with: key, adoptUnsigned: adoptUnsigned) }
}

/// The log's public key from `--public-key` (hex as `authctl head` prints it, or base64url, or
/// a file holding either), or
/// derived from the key-encryption key when the data directory's key store can be opened.
func logPublicKey(option: String?, dataDirectory: String) throws -> Ed25519Key? {
    try logPublicKeyAndSource(option: option, dataDirectory: dataDirectory)?.key
}

/// ``logPublicKeyAndSource(option:dataDirectory:)`` for the log `root` names: with
/// `--log-url`, the key comes from the shared key store (``openSharedKeys(_:readOnly:mayGenerateKey:)``).
func logPublicKeyAndSource(option: String?, root: Authctl) throws -> (key: Ed25519Key, source: String)? {
    guard root.logURL != nil, option == nil else {
        return try logPublicKeyAndSource(option: option, dataDirectory: root.data)
    }
    do {
        return try openSharedKeys(root, readOnly: true).logSigningKey.map { ($0, "the shared log's key store") }
    } catch let exit as ExitCode where exit.rawValue == 2 {
        return nil
    }
}

/// The log verify, head and sign-head read: the embedded log (read-only) or the shared one.
protocol AuditedLog {
    func verify(from position: UInt64, through last: UInt64?) throws -> ChainVerification
    func verifySignatures(key: Ed25519Key, since: Checkpoint?) throws -> LogVerification
    func headCheckpoint() throws -> Checkpoint?
    func close()
}

extension LMDBEventLog: AuditedLog {}
extension PostgresEventLog: AuditedLog {}

extension Authctl {
    /// The log to audit: the shared log with `--log-url`, else the data directory's, read-only.
    func openAudited() throws -> any AuditedLog {
        if let url = logURL { return try openSharedLog(url) }
        return try openReadOnly()
    }
}

/// Where a data directory's own key-encryption key file is.
func ownKEKFile(_ dataDirectory: String) -> String { dataDirectory + "/kek" }

/// ``logPublicKey(option:dataDirectory:)`` with where the key came from: `--public-key`,
/// or the key-encryption key's source.
func logPublicKeyAndSource(option: String?, dataDirectory: String) throws -> (key: Ed25519Key, source: String)? {
    if let option {
        var text = option
        if FileManager.default.fileExists(atPath: option) {
            guard let contents = try? String(contentsOfFile: option, encoding: .utf8) else {
                printError("authctl: cannot read \(option)")
                throw ExitCode(2)
            }
            text = contents
        }
        text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = unhex(text).flatMap({ $0.count == 32 ? $0 : nil }) ?? Base64URL.decode(text),
            let key = try? Ed25519Key(publicKey: bytes)
        else {
            printError("authctl: --public-key is not a 32-byte Ed25519 public key (hex or base64url)")
            throw ExitCode(64)
        }
        return (key, "--public-key")
    }
    do {
        let keys = try KeyStore(dataDirectory: dataDirectory, readOnly: true)
        return keys.logSigningKey.map { ($0, keys.keySource) }
    } catch let error as DataProtectionError {
        if case .missingKey = error { return nil }
        printError("authctl: \(error)")
        throw ExitCode(2)
    }
}

struct Head: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the log's signed head: one JSON line to keep somewhere else.",
        discussion: """
            The head checkpoint names the last position, its chain hash and time, signed with \
            the log's key (derived from the key-encryption key), and that key's public half. \
            Keep it outside the data directory (a ticket, another machine, a notary); later, \
            `authctl verify --since-head FILE` proves the log still extends it, so not even \
            the key's holder can rewrite what came before it unnoticed.

            Example:
              authctl --data ./data head > heads/$(date +%F).json
            """)

    @ParentCommand var root: Authctl
    @Option(help: "The log's public key (hex, or a file holding it), when the key-encryption key is not here.")
    var publicKey: String?

    func run() throws {
        let log = try root.openAudited()
        defer { log.close() }
        guard let checkpoint = try failing({ try log.headCheckpoint() }) else {
            printError("authctl: the log has no signed head (it is empty, or was written before signing)")
            throw ExitCode(3)
        }
        guard let key = try logPublicKeyAndSource(option: publicKey, root: root)?.key else {
            printError("authctl: no key-encryption key here to check the head with; pass --public-key")
            throw ExitCode(3)
        }
        if !checkpoint.isSigned(by: key) {
            printError("authctl: the stored head checkpoint is not signed by the log's key; run authctl verify")
            throw ExitCode(1)
        }
        print(CheckpointJSON(checkpoint, publicKey: key).line)
    }
}

struct SignHead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-head",
        abstract: "Sign the head of a log written before signing, once, after checking it.",
        discussion: """
            A log written by a release before signed checkpoints has none; authd and the \
            commands that write refuse to sign over it until an operator has checked it. This \
            verifies its chain and signs its head, if its hash is the one given: from then on \
            every commit is signed, and this first checkpoint covers every event before it.

            A signed log whose checkpoints someone deleted looks the same, with forged events \
            at its end: compare the head hash with one kept from before (or --since-head) \
            before you sign. It refuses a log that has any checkpoint left.

            Example:
              authctl --data ./data verify            # prints the head hash; compare it with yours
              authctl --data ./data sign-head --head-hash 9f2c...e41a
            """)

    @ParentCommand var root: Authctl
    @Option(help: "The head hash you checked (authctl verify prints it).") var headHash: String

    func run() throws {
        if let url = root.logURL { return try signShared(url) }
        let log = try failing { try LMDBEventLog(directory: root.data) }
        defer { log.close() }
        let (count, through) = try check(log)
        let keys = try failing { try KeyStore(dataDirectory: root.data, mayGenerateKey: false) }
        try startSigning(log, keys: keys, adoptUnsigned: true)
        print("signed the head at position \(through): the checkpoint covers all \(count) events")
    }

    /// The same on the shared log, with the key of ``openSharedKeys(_:readOnly:mayGenerateKey:)``.
    func signShared(_ url: String) throws {
        let log = try openSharedLog(url)
        defer { log.close() }
        let checked = try check(log)
        let keys = try openSharedKeys(root, mayGenerateKey: false)
        guard let key = keys.logSigningKey else {
            printError("authctl: no key-encryption key: signing the head needs it")
            throw ExitCode(2)
        }
        try failing { try log.startSigning(with: key, adoptUnsigned: true) }
        print("signed the head at position \(checked.through): the checkpoint covers all \(checked.count) events")
    }

    /// Refuses a signed log, a broken chain and a head hash other than the one given.
    func check(_ log: any AuditedLog) throws -> (count: UInt64, through: UInt64) {
        if try failing({ try log.headCheckpoint() }) != nil {
            printError("authctl: the log is already signed; authctl verify says whether it is intact")
            throw ExitCode(2)
        }
        guard case .intact(let count, let through, let head) = try failing({ try log.verify(from: 1, through: nil) })
        else {
            printError("authctl: the hash chain is broken; run authctl verify")
            throw ExitCode(1)
        }
        guard head.description == headHash.lowercased() else {
            printError("authctl: the head hash is \(head), not the one given; nothing was signed")
            throw ExitCode(1)
        }
        return (count, through)
    }
}
