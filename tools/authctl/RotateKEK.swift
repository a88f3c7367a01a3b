import ArgumentParser
import DataProtection
import Foundation

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

            Example:
              authctl --data ./data rotate-kek
              AUTHLOG_KEK_FILE=/secure/kek authctl --data ./data rotate-kek --new-kek-file /secure/kek.2
            """)

    @ParentCommand var root: Authctl
    @Option(help: "The new key-encryption key (a 0600 file holding 32 bytes as base64url or hex).")
    var newKekFile: String?

    func run() throws {
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
}
