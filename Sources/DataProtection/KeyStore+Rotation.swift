import COpenSSL
import Foundation

/// What a rotation of the key-encryption key did (no key material).
public struct KeyRotation: Sendable, Equatable {
    /// Data keys re-wrapped under the new key.
    public var dataKeys = 0
    /// Zeroed slots (erased users' destroyed keys) left out of the new store.
    public var erasedSlotsDropped = 0
    /// Where the new key is: `DATA/kek`, or the file the operator gave.
    public var newKeySource = ""
    /// A rotation stopped after its new store was in place was finished (only its key file
    /// was left to move); nothing was re-wrapped this time.
    public var finishedInterrupted = false
    /// The store was under the new key already; nothing was done.
    public var alreadyDone = false
    /// Why the old `DATA/kek` could not be overwritten with zeros before the new key replaced
    /// it (it was replaced all the same; its old blocks may still be on the disk); `nil` when
    /// it was overwritten or there was none.
    public var oldKeyNotOverwritten: String?
}

extension KeyEncryptionKey {
    /// The key in `path` (base64url or hex, as ``load(dataDirectory:environment:mayGenerate:)``
    /// reads it), refused when others may read or write the file.
    public static func load(file path: String) throws(DataProtectionError) -> KeyEncryptionKey {
        try refuseLooseKeyFile(path, tighten: false)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .missingKey("cannot read the key-encryption key file \(path)")
        }
        return try KeyEncryptionKey(text: text, source: path)
    }
}

extension KeyStore {
    /// Re-wraps one slot (user id, nonce, wrapped key, tag, reserved) from `old` to `new`
    /// under a fresh nonce: the step a store of wrapped keys takes for each key, whatever
    /// holds them (a database store re-wraps its rows with it inside one transaction). The
    /// slot must open under `old`, or this throws ``DataProtectionError/tampered``.
    public static func rewrap(
        slot: [UInt8], from old: KeyEncryptionKey, to new: KeyEncryptionKey
    ) throws(DataProtectionError) -> [UInt8] {
        guard slot.count == slotSize else { throw .keyStore("a key slot is \(slotSize) bytes") }
        let context =
            Array(slot[0..<16]) == uuidBytes(logSigningSlot)
            ? logSigningContext : Array("authlog data key ".utf8) + Array(slot[0..<16])
        var key: [UInt8] = []
        do {
            key = try slot.withUnsafeBytes {
                try AESGCM.open(UnsafeRawBufferPointer(rebasing: $0[16..<76]), key: old.bytes, associatedData: context)
            }
        } catch {
            throw .tampered
        }
        defer { key.withUnsafeMutableBytes { cleanse($0) } }
        return Array(slot[0..<16]) + (try AESGCM.seal(key, key: new.bytes, associatedData: context)) + [0, 0, 0, 0]
    }

    /// Replaces the key-encryption key of the store in `dataDirectory` by `newKey`: every
    /// data key is re-wrapped under it, and so is the log's signing key, which stays the one
    /// the log was signed with (the store becomes format 2, see ``KeyStore``).
    ///
    /// The old key comes from the usual sources (``KeyEncryptionKey``). When it is `DATA/kek`,
    /// the new key replaces it there (`newKey`, or a generated one when `newKey` is `nil`);
    /// otherwise `newKey` is required, and the operator points `AUTHLOG_KEK_FILE` at it.
    ///
    /// Rules:
    /// - Refused while any other process has the directory's key store open (authd, another
    ///   authctl): the directory's `flock` is taken exclusively and held to the end, so no
    ///   process opens the store or reads the key meanwhile. A holder is waited for up to
    ///   ``lockWait`` (a process exiting, say), then the rotation is refused. Stores unlock the
    ///   directory before they close it (``release(_:)``), so that a process another thread of
    ///   theirs is starting, which holds a copy of its parent's descriptors until it runs its
    ///   program, does not hold the lock meanwhile.
    /// - All or nothing: the new store is written whole into `DATA/keys.rotating` (0600 from
    ///   its first byte), synced, and renamed over `DATA/keys`. A new `DATA/kek` is first
    ///   written to `DATA/kek.new` (synced) before the store is replaced, and renamed over
    ///   `DATA/kek` after: a process killed at any point leaves the old store with the old key,
    ///   or the new store with the new key in `DATA/kek` or `DATA/kek.new`. Running it again
    ///   finishes or restarts the step, and says which.
    /// - The old `DATA/kek` is overwritten with zeros and synced before it is replaced.
    /// - Zeroed slots (erased users) are left out: a destroyed key is never written again.
    public static func rotateKeyEncryptionKey(
        dataDirectory: String, environment: [String: String], newKey given: KeyEncryptionKey?
    ) throws -> KeyRotation {
        let storePath = dataDirectory + "/keys"
        let ownKey = dataDirectory + "/kek"
        let pending = dataDirectory + "/kek.new"
        let staging = dataDirectory + "/keys.rotating"
        let lock = try holdExclusive(dataDirectory)
        defer { release(lock) }
        guard FileManager.default.fileExists(atPath: storePath) else {
            throw DataProtectionError.keyStore("\(storePath) does not exist: there is no key to re-wrap")
        }
        let storeCheck = try headerCheckValue(storePath)

        if FileManager.default.fileExists(atPath: pending) {
            let next = try KeyEncryptionKey.load(file: pending)
            if storeCheck == next.checkValue {
                var finished = KeyRotation(newKeySource: ownKey, finishedInterrupted: true)
                finished.oldKeyNotOverwritten = try replaceKeyFile(ownKey, with: pending, in: dataDirectory)
                return finished
            }
            // Stopped before its store was replaced: the store is the old one, start over.
            unlink(pending)
            try syncDirectory(dataDirectory)
        }
        if let given, storeCheck == given.checkValue {
            return KeyRotation(newKeySource: "", alreadyDone: true)
        }
        let (old, oldSource) = try KeyEncryptionKey.load(
            dataDirectory: dataDirectory, environment: environment, mayGenerate: false)
        let replacesOwnKey = oldSource == ownKey
        guard given != nil || replacesOwnKey else {
            throw DataProtectionError.missingKey(
                "the key-encryption key comes from \(oldSource), not \(ownKey): give the new one with --new-kek-file")
        }
        let new = try given ?? KeyEncryptionKey.generate()
        guard new.bytes != old.bytes else {
            throw DataProtectionError.wrongKey("the new key-encryption key is the one in use")
        }

        // Opening checks the old key against the store and repairs identical duplicate slots.
        let store = try KeyStore(file: storePath, kek: old, keySource: oldSource, readOnly: false, directoryLock: -1)
        var rotation = KeyRotation(newKeySource: replacesOwnKey ? ownKey : "")
        let image = try store.rewrappedImage(under: new, counting: &rotation)
        if replacesOwnKey {
            try SecretFile.create(pending, contents: Array((new.text + "\n").utf8))
            try syncDirectory(dataDirectory)
        }
        unlink(staging)  // left by a rotation killed before its rename; nothing reads it
        try SecretFile.create(staging, contents: image)
        guard rename(staging, storePath) == 0 else {
            let reason = errnoText()
            unlink(staging)
            if replacesOwnKey { unlink(pending) }
            throw DataProtectionError.keyStore("cannot replace \(storePath): \(reason)")
        }
        try syncDirectory(dataDirectory)
        if replacesOwnKey {
            rotation.oldKeyNotOverwritten = try replaceKeyFile(ownKey, with: pending, in: dataDirectory)
        }
        return rotation
    }

    /// The whole new file: the header (format 2, same erasure count, `new`'s check value),
    /// the log's signing key, then every live slot re-wrapped, in the old order.
    private func rewrappedImage(under new: KeyEncryptionKey, counting rotation: inout KeyRotation) throws -> [UInt8] {
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        guard pread(descriptor, &header, Self.headerSize, 0) == Self.headerSize else {
            throw DataProtectionError.keyStore("cannot read \(path)")
        }
        var image = Self.magic + [0, 0, 0, 2, 0, 0, 0, 0] + Array(header[24..<32]) + new.checkValue
        var seed = storedLogSigningSeed ?? kek.derivedLogSigningSeed
        defer { seed.withUnsafeMutableBytes { cleanse($0) } }
        image +=
            uuidBytes(Self.logSigningSlot)
            + (try AESGCM.seal(seed, key: new.bytes, associatedData: Self.logSigningContext)) + [0, 0, 0, 0]
        let first = storedLogSigningSeed == nil ? 0 : 1
        for number in first..<storedKeyCount {
            let slot = try readSlot(number)
            if slot[0..<16].allSatisfy({ $0 == 0 }) {
                rotation.erasedSlotsDropped += 1
                continue
            }
            image += try Self.rewrap(slot: slot, from: kek, to: new)
            rotation.dataKeys += 1
        }
        return image
    }

    /// Moves the synced `pending` key file over `own` after overwriting `own`'s bytes with
    /// zeros (synced), then syncs the directory. Returns why the overwrite could not be done
    /// (a symbolic link, which is never followed, a file it may not write, a failed write or
    /// sync), or `nil`; the move happens either way, since the store is under the new key.
    private static func replaceKeyFile(_ own: String, with pending: String, in directory: String) throws -> String? {
        var notOverwritten: String?
        let descriptor = open(own, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
        if descriptor >= 0 {
            var info = stat()
            if fstat(descriptor, &info) == 0, info.st_size > 0 {
                let zeros = [UInt8](repeating: 0, count: Int(info.st_size))
                if pwrite(descriptor, zeros, zeros.count, 0) != zeros.count || fsync(descriptor) != 0 {
                    notOverwritten = errnoText()
                }
            }
            close(descriptor)
        } else if errno != ENOENT {
            notOverwritten = errno == ELOOP ? "it is a symbolic link" : errnoText()
        }
        guard rename(pending, own) == 0 else {
            throw DataProtectionError.keyStore("cannot move \(pending) to \(own): \(errnoText())")
        }
        try syncDirectory(directory)
        return notOverwritten
    }

    /// The check value in the header of the store at `path`.
    private static func headerCheckValue(_ path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw DataProtectionError.keyStore("cannot open \(path): \(errnoText())") }
        defer { close(descriptor) }
        var header = [UInt8](repeating: 0, count: headerSize)
        guard pread(descriptor, &header, headerSize, 0) == headerSize, Array(header[0..<16]) == magic else {
            throw DataProtectionError.keyStore("\(path) is not an Authlog key store")
        }
        return Array(header[32..<64])
    }

    /// How long a rotation waits for the directory's other holders to let go.
    static let lockWait = Duration.seconds(1)

    /// The directory opened and locked exclusively, or an error saying who holds it.
    private static func holdExclusive(_ directory: String) throws -> Int32 {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DataProtectionError.keyStore("cannot open \(directory): \(errnoText())") }
        let deadline = ContinuousClock.now + lockWait
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            if errno == EWOULDBLOCK, ContinuousClock.now < deadline {
                usleep(10_000)
                continue
            }
            close(descriptor)
            throw DataProtectionError.keyStore(
                "\(directory) is in use: authd or another authctl has its key store open; "
                    + "stop it and rotate again (nothing was changed)")
        }
        return descriptor
    }

    private static func syncDirectory(_ directory: String) throws {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DataProtectionError.keyStore("cannot open \(directory): \(errnoText())") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw DataProtectionError.keyStore("cannot sync \(directory): \(errnoText())")
        }
    }

    /// `error` with a hint when a rotation was stopped before its new key was moved into
    /// place (`DATA/kek.new` exists): running it again finishes it.
    static func notingInterruptedRotation(_ error: any Error, in directory: String) -> any Error {
        guard FileManager.default.fileExists(atPath: directory + "/kek.new"),
            let protection = error as? DataProtectionError
        else { return error }
        switch protection {
        case .wrongKey, .malformedKey, .missingKey:
            return DataProtectionError.wrongKey(
                "\(protection); a rotation of the key-encryption key was stopped before it finished "
                    + "(\(directory)/kek.new is there): run `authctl rotate-kek` again")
        default: return error
        }
    }
}
