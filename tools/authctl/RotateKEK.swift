import ArgumentParser
import DataProtection
import Foundation
import KeyStorePostgres

struct RotateKEK: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-kek",
        abstract: "Re-wrap every data key, and the log's signing key, under a new key-encryption key.",
        discussion: """
            The old key comes from the usual place (AUTHLOG_KEK, AUTHLOG_KEK_FILE or DATA/kek). \
            When it is DATA/kek, a new key is generated into DATA/kek (or --new-kek-file is \
            copied there); otherwise --new-kek-file is required and you point AUTHLOG_KEK_FILE \
            at it afterwards. The log keeps its signing key, so its public key, kept heads and \
            exports still verify. Erased users' keys stay destroyed. Refused while authd or \
            another authctl has the directory's key store open: stop authd first. A rotation \
            that was stopped is finished or restarted by running it again. Then destroy every \
            copy of the old key: backups made before are readable with it, and only with it.

            With --log-url the keys in the shared PostgreSQL database are re-wrapped, in one \
            transaction (a rotation stopped part way changed nothing; running it again after \
            it ended is a no-op). The old key comes from AUTHLOG_KEK or AUTHLOG_KEK_FILE, the \
            new one from --new-kek-file (required). authd nodes may keep running; restart each \
            with the new key (until then a node writes no key and reads only keys it cached).

            Example:
              authctl --data ./data rotate-kek
              AUTHLOG_KEK_FILE=/secure/kek authctl --data ./data rotate-kek --new-kek-file /secure/kek.2
              AUTHLOG_KEK_FILE=/secure/kek authctl --log-url postgres://authd@db/auth rotate-kek --new-kek-file /secure/kek.2
            """)

    @ParentCommand var root: Authctl
    @Option(help: "The new key-encryption key (a 0600 file of yours or root's, holding 32 bytes as base64url or hex).")
    var newKekFile: String?

    func run() throws {
        if let url = root.logURL { return try rotateShared(url: url) }
        try checkDataDirectory(root.data, readOnly: false)
        let newKey = try newKekFile.map { file in try failing { try KeyEncryptionKey.load(file: file) } }
        let rotation = try failing {
            try KeyStore.rotateKeyEncryptionKey(
                dataDirectory: root.data, environment: ProcessInfo.processInfo.environment, newKey: newKey)
        }
        let place = rotation.newKeySource.isEmpty ? newKekFile ?? "" : rotation.newKeySource
        if rotation.alreadyDone {
            print("the key store is wrapped under the key in \(place) already; nothing was changed")
        } else if rotation.finishedInterrupted {
            print("finished an interrupted rotation: the new key-encryption key is now in \(place)")
        } else {
            let dropped =
                rotation.erasedSlotsDropped == 0 ? "" : "; left out \(rotation.erasedSlotsDropped) erased slots"
            let next = rotation.newKeySource.isEmpty ? "; set AUTHLOG_KEK_FILE to \(place)" : ""
            print(
                "re-wrapped \(rotation.dataKeys) data keys and the log's signing key under the new key-encryption key "
                    + "in \(place)\(dropped)\(next); destroy every copy of the old key")
        }
        if let reason = rotation.oldKeyNotOverwritten {
            FileHandle.standardError.write(
                Data(
                    "authctl: the old key in \(place) was replaced but not overwritten first (\(reason)); its bytes may remain on the disk\n"
                        .utf8))
        }
    }

    /// The keys in the shared database (`--log-url`): see ``PostgresKeyStore/rotateKeyEncryptionKey(url:from:to:)``.
    func rotateShared(url: String) throws {
        guard let newKekFile else {
            printError("authctl: with --log-url, give the new key-encryption key with --new-kek-file")
            throw ExitCode(2)
        }
        let environment = ProcessInfo.processInfo.environment
        guard
            environment["AUTHLOG_KEK"].map({ !$0.isEmpty }) == true
                || environment["AUTHLOG_KEK_FILE"].map({ !$0.isEmpty }) == true
        else {
            printError("authctl: with --log-url, the old key-encryption key comes from AUTHLOG_KEK or AUTHLOG_KEK_FILE")
            throw ExitCode(2)
        }
        let newKey = try failing { try KeyEncryptionKey.load(file: newKekFile) }
        let (old, _) = try failing {
            try KeyEncryptionKey.load(dataDirectory: root.data, environment: environment, mayGenerate: false)
        }
        let rotation = try failing { try PostgresKeyStore.rotateKeyEncryptionKey(url: url, from: old, to: newKey) }
        if rotation.alreadyDone {
            print("the keys in the database are wrapped under the key in \(newKekFile) already; nothing was changed")
        } else {
            print(
                "re-wrapped \(rotation.dataKeys) data keys, the log's signing key and \(rotation.signingKeys) "
                    + "access-token signing keys under the key in \(newKekFile); restart every authd node with it "
                    + "(AUTHLOG_KEK_FILE), then destroy every copy of the old key")
        }
    }
}
