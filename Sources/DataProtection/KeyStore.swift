import COpenSSL
import Foundation
import Synchronization

/// Every user's data key, wrapped by the key-encryption key, in `DATA/keys`: one file of
/// fixed-size slots, so that erasing a key overwrites its slot in place.
///
/// Layout: a 64-byte header, `AUTHLOG-DATAKEYS` (16 bytes), format version (u32 big-endian,
/// 1 or 2), 4 reserved bytes, the erasure count (u64 big-endian; zero in files written before
/// it existed), the key-encryption key's check value (32 bytes); then 80-byte slots: user id
/// (16), nonce (12), wrapped key (32), tag (16), 4 reserved bytes. A slot of zeros is empty.
/// The wrap is AES-256-GCM under the key-encryption key with the user id as associated data,
/// so a slot cannot be moved to another user.
///
/// Format 1 derives the log's signing key from the key-encryption key. Format 2 (written by a
/// rotation of the key-encryption key, or an import of a rotated store) stores it: the first
/// slot holds the reserved id `ffffffff-ffff-ffff-ffff-ffffffffffff` and the Ed25519 private
/// key wrapped like a data key, with `authlog log signing key` as associated data. That slot
/// is no user's: it is never listed, exported as a data key, erased or handed to a rebuild.
/// See `KeyStore+LogSigning.swift` and `KeyStore+Rotation.swift`.
///
/// Rules:
/// - One user, at most one slot. Creating or importing a key for a user who has a slot is
///   refused. A file that holds several slots for one user (left by an interrupted import of
///   older releases) is repaired on a writing open when the copies are identical (every copy
///   but the first is zeroed), and refused otherwise, and by read-only opens.
/// - Erasure writes zeros over every slot of the user, then adds one to the erasure count,
///   and syncs the file before returning: no copy of the wrapped key is left in the file (the
///   file is overwritten, never copied or rewritten).
/// - Every process reads the erasure count (mapped from the file) before it hands out a
///   cached key; when it changed, the cache is dropped and each key is read from its slot
///   again. So a key erased by any process is no longer used by any other from the next
///   look-up on.
/// - Writers in several processes take an exclusive `flock` on the file.
/// - A store opened from a data directory holds a shared `flock` on the directory for as long
///   as it is open (taken before the key-encryption key is read); a rotation of that key takes
///   it exclusively, so no process holds the old store or the old key while the store is
///   replaced, and none opens either until the rotation is done.
public final class KeyStore: Sendable {
    static let headerSize = 64
    package static let slotSize = 80
    static let magic = Array("AUTHLOG-DATAKEYS".utf8)

    public let path: String
    public let keySource: String
    let kek: KeyEncryptionKey
    let descriptor: Int32
    /// The data directory, held with a shared `flock` while this store is open; -1 for none.
    private let directoryLock: Int32
    /// The log's signing key (its Ed25519 private key) as a format 2 store holds it; `nil` in
    /// format 1, where it is derived from the key-encryption key.
    nonisolated(unsafe) var storedLogSigningSeed: [UInt8]?
    static let erasureCountOffset = 24
    private struct Index {
        /// The first slot holding the user's id.
        var slots: [UUID: Int] = [:]
        /// Later slots holding the same id, in file order: none once the file is checked (kept
        /// apart so that a sound file costs one integer per user).
        var copies: [UUID: [Int]] = [:]
        var keys: [UUID: [UInt8]] = [:]
        var scannedSlots = 0
        /// The erasure count when `keys` was last known to be current.
        var erasures: UInt64 = 0

        func allSlots(of user: UUID) -> [Int] {
            guard let first = slots[user] else { return [] }
            return [first] + (copies[user] ?? [])
        }

        /// Forgets `slot` as one of `user`'s (found zeroed); a later copy takes its place.
        mutating func drop(_ slot: Int, of user: UUID) {
            if slots[user] == slot {
                var more = copies.removeValue(forKey: user) ?? []
                slots[user] = more.isEmpty ? nil : more.removeFirst()
                if !more.isEmpty { copies[user] = more }
            } else {
                copies[user]?.removeAll { $0 == slot }
            }
        }

        mutating func add(_ slot: Int, of user: UUID) {
            if slots[user] == nil { slots[user] = slot } else { copies[user, default: []].append(slot) }
        }
    }
    private let index = Mutex(Index())
    /// Serialises this process's writers (see ``withFileLock(_:)``).
    private let writers = Mutex(())
    /// The file's header, mapped shared and read-only: the erasure count without a system call.
    nonisolated(unsafe) private var header: UnsafeMutableRawPointer?
    /// Users whose identical duplicate slots this open zeroed (see the type's rules).
    nonisolated(unsafe) public private(set) var repairedDuplicates: [UUID] = []

    /// Opens (or creates) the store in `dataDirectory` with the key-encryption key from
    /// `environment` (see ``KeyEncryptionKey``). A missing, malformed or wrong key is an error
    /// here, before any data is read.
    ///
    /// `readOnly` opens an existing store without creating, generating or writing anything
    /// (for audit commands); without a store there is then no key at all.
    ///
    /// The data directory is checked first (``SecretFile/secureDirectory(_:readOnly:)``).
    public convenience init(
        dataDirectory: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        readOnly: Bool = false, mayGenerateKey: Bool = true
    ) throws {
        try SecretFile.secureDirectory(dataDirectory, readOnly: readOnly)
        let path = dataDirectory + "/keys"
        let lock = Self.holdShared(dataDirectory)
        let exists = FileManager.default.fileExists(atPath: path)
        if readOnly && !exists {
            Self.release(lock)
            self.init(holdingNoKeysAt: path)
            return
        }
        let kek: KeyEncryptionKey
        let source: String
        do {
            (kek, source) = try KeyEncryptionKey.load(
                dataDirectory: dataDirectory, environment: environment,
                mayGenerate: !exists && !readOnly && mayGenerateKey)
        } catch {
            Self.release(lock)
            throw Self.notingInterruptedRotation(error, in: dataDirectory)
        }
        do {
            try self.init(file: path, kek: kek, keySource: source, readOnly: readOnly, directoryLock: lock)
        } catch {
            throw Self.notingInterruptedRotation(error, in: dataDirectory)
        }
    }

    /// Unlocks the directory, then closes it (nothing for -1). Unlocked first: a process that
    /// another thread is starting holds a copy of this descriptor until it runs its program,
    /// and a close alone would leave the lock held by that copy meanwhile.
    static func release(_ directoryLock: Int32) {
        guard directoryLock >= 0 else { return }
        flock(directoryLock, LOCK_UN)
        close(directoryLock)
    }

    /// Opens `directory` and takes a shared `flock` on it (waiting while a rotation holds it
    /// exclusively); -1 when it cannot be opened (the caller's next step says why).
    private static func holdShared(_ directory: String) -> Int32 {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return -1 }
        while flock(descriptor, LOCK_SH) != 0 {
            guard errno == EINTR else {
                close(descriptor)
                return -1
            }
        }
        return descriptor
    }

    /// Opens (or creates) the store in the file `path` with a key-encryption key already
    /// loaded (an import stages a store beside the data directory whose key it uses).
    public convenience init(file path: String, kek: KeyEncryptionKey, keySource source: String, readOnly: Bool = false)
        throws
    {
        try self.init(file: path, kek: kek, keySource: source, readOnly: readOnly, directoryLock: -1)
    }

    /// ``init(file:kek:keySource:readOnly:)`` that also owns `directoryLock` (closed with the
    /// store, or on failure).
    convenience init(
        file path: String, kek: KeyEncryptionKey, keySource source: String, readOnly: Bool, directoryLock: Int32
    ) throws {
        let descriptor = open(path, (readOnly ? O_RDONLY : O_RDWR | O_CREAT) | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            Self.release(directoryLock)
            throw DataProtectionError.keyStore("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        // From here on a throw releases the store, and `deinit` closes the file and the lock.
        self.init(path: path, kek: kek, keySource: source, descriptor: descriptor, directoryLock: directoryLock)
        if !readOnly { fchmod(descriptor, 0o600) }
        try withFileLock {
            var header = [UInt8](repeating: 0, count: Self.headerSize)
            let read = pread(descriptor, &header, Self.headerSize, 0)
            if read == 0 && readOnly {
                return
            } else if read == 0 {
                header = Self.magic + [0, 0, 0, 1] + [UInt8](repeating: 0, count: 12) + kek.checkValue
                try writeAndSync(header, at: 0)
            } else {
                guard read == Self.headerSize, Array(header[0..<16]) == Self.magic else {
                    throw DataProtectionError.keyStore("\(path) is not an Authlog key store")
                }
                guard Array(header[32..<64]) == kek.checkValue else {
                    throw DataProtectionError.wrongKey(
                        "the key-encryption key from \(source) is not the one that wrapped the data keys in \(path)"
                    )
                }
                storedLogSigningSeed = try readStoredLogSigningSeed(version: header[16..<20])
            }
        }
        mapHeader()
        let erasures = erasureCount()
        index.withLock { $0.erasures = erasures }
        try scanNewSlots()
        try checkOneSlotPerUser(readOnly: readOnly)
    }

    /// A store that holds no key: for reading what needs none (counts, hashes) without the
    /// key-encryption key. Every personal field reads back empty. (A read-only open of a
    /// directory without a key store gives the same.)
    public static func locked() -> KeyStore { KeyStore(holdingNoKeysAt: "") }

    private convenience init(holdingNoKeysAt path: String) {
        self.init(
            path: path, kek: try! KeyEncryptionKey(bytes: [UInt8](repeating: 0, count: 32)), keySource: "none",
            descriptor: -1, directoryLock: -1)
    }

    private init(path: String, kek: KeyEncryptionKey, keySource: String, descriptor: Int32, directoryLock: Int32) {
        self.path = path
        self.kek = kek
        self.keySource = keySource
        self.descriptor = descriptor
        self.directoryLock = directoryLock
    }

    deinit {
        if let header { munmap(header, Self.headerSize) }
        if descriptor >= 0 { close(descriptor) }
        Self.release(directoryLock)
        storedLogSigningSeed?.withUnsafeMutableBytes { cleanse($0) }
    }

    /// The user's data key, or `nil` if there is none (never created, or erased, by any
    /// process: a cached key is handed out only while the erasure count is unchanged).
    public func dataKey(for user: UUID) throws -> [UInt8]? {
        let erasures = dropCachedKeysAfterErasure()
        if let key = index.withLock({ $0.keys[user] }) { return key }
        if index.withLock({ $0.slots[user] == nil }) { try scanNewSlots() }  // written by another process?
        var found: [UInt8]?
        while found == nil, let slot = index.withLock({ $0.slots[user] }) {
            let bytes = try readSlot(slot)
            if Array(bytes[0..<16]) == uuidBytes(user) {
                found = bytes
            } else {
                index.withLock { $0.drop(slot, of: user) }  // erased meanwhile
            }
        }
        guard let bytes = found else { return nil }
        let key = try bytes.withUnsafeBytes { raw in
            try AESGCM.open(
                UnsafeRawBufferPointer(rebasing: raw[16..<76]), key: kek.bytes, associatedData: wrapContext(user))
        }
        // Cached only if no erasure was seen since this look-up began: a slot read just before
        // another process zeroed it must not outlive the cache drop.
        index.withLock { if $0.erasures == erasures { $0.keys[user] = key } }
        return key
    }

    /// Calls `body` with every stored data key whose user `wanted` accepts, unwrapped, in slot
    /// order (the order the keys were created); erased slots are skipped.
    ///
    /// For bulk work (a rebuild): the file is read in large chunks, one context unwraps every
    /// key, and nothing is added to this store's cache. The key bytes passed to `body` are
    /// valid only during the call.
    public func forEachDataKey(
        where wanted: (UUID) -> Bool, _ body: (UUID, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        guard descriptor >= 0 else { return }
        let context = try AESGCMContext()
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw DataProtectionError.keyStore("cannot stat \(path)") }
        let total = max(0, (Int(info.st_size) - Self.headerSize) / Self.slotSize)
        let slotsPerChunk = 16_384
        var buffer = [UInt8](repeating: 0, count: slotsPerChunk * Self.slotSize)
        var wrap = Array("authlog data key ".utf8) + [UInt8](repeating: 0, count: 16)
        let prefix = wrap.count - 16
        var kekBytes = kek.bytes
        var key = [UInt8](repeating: 0, count: 32)
        defer {
            kekBytes.withUnsafeMutableBytes { cleanse($0) }
            key.withUnsafeMutableBytes { cleanse($0) }
        }
        try kekBytes.withUnsafeBytes { kek in
            try context.withOpener(key: kek) { opener in
                for first in stride(from: 0, to: total, by: slotsPerChunk) {
                    let count = min(slotsPerChunk, total - first)
                    let size = count * Self.slotSize
                    guard pread(descriptor, &buffer, size, off_t(Self.headerSize + first * Self.slotSize)) == size
                    else {
                        throw DataProtectionError.keyStore("cannot read \(path)")
                    }
                    try buffer.withUnsafeBytes { raw in
                        for number in 0..<count {
                            let slot = UnsafeRawBufferPointer(
                                rebasing: raw[(number * Self.slotSize)..<((number + 1) * Self.slotSize)])
                            let user = UUID(uuid: slot.loadUnaligned(as: uuid_t.self))
                            guard user != Self.emptySlot, user != Self.logSigningSlot, wanted(user) else { continue }
                            wrap.withUnsafeMutableBytes {
                                $0.baseAddress!.advanced(by: prefix).copyMemory(from: slot.baseAddress!, byteCount: 16)
                            }
                            do {
                                try wrap.withUnsafeBytes { ad in
                                    try key.withUnsafeMutableBytes {
                                        try opener.open(
                                            UnsafeRawBufferPointer(rebasing: slot[16..<76]), associatedData: ad,
                                            into: $0)
                                    }
                                }
                            } catch DataProtectionError.tampered {
                                // Read while an erase was overwriting it? Then the slot is zeros now.
                                guard try readSlot(first + number).allSatisfy({ $0 == 0 }) else {
                                    throw DataProtectionError.tampered
                                }
                                continue
                            }
                            try key.withUnsafeBytes { try body(user, $0) }
                        }
                    }
                }
            }
        }
    }

    /// How many slots the file holds (erased ones included): an upper bound on the users.
    public var storedKeyCount: Int {
        guard descriptor >= 0 else { return 0 }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return 0 }
        return max(0, (Int(info.st_size) - Self.headerSize) / Self.slotSize)
    }

    static let emptySlot = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    /// The id of the slot that holds the log's signing key in a format 2 store (the maximum
    /// UUID of RFC 9562, which no version 7 id can be).
    package static let logSigningSlot = UUID(
        uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))

    /// Creates, stores (synced) and returns a new data key for `user`; a user who has one
    /// already is refused.
    public func createDataKey(for user: UUID) throws -> [UInt8] {
        var key = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&key, 32) == 1 else { throw DataProtectionError.crypto("RAND_bytes failed") }
        let wrapped = try AESGCM.seal(key, key: kek.bytes, associatedData: wrapContext(user))
        try withFileLock {
            try refuseExistingSlots(for: [user])
            try appendSlots(uuidBytes(user) + wrapped + [0, 0, 0, 0])
        }
        index.withLock { $0.keys[user] = key }
        return key
    }

    /// Creates data keys for many users with one write and one sync (bulk loads, seeding).
    public func createDataKeys(for users: [UUID]) throws -> [[UInt8]] {
        var keys: [[UInt8]] = []
        var slots: [UInt8] = []
        slots.reserveCapacity(users.count * Self.slotSize)
        for user in users {
            var key = [UInt8](repeating: 0, count: 32)
            guard RAND_bytes(&key, 32) == 1 else { throw DataProtectionError.crypto("RAND_bytes failed") }
            slots +=
                uuidBytes(user) + (try AESGCM.seal(key, key: kek.bytes, associatedData: wrapContext(user))) + [
                    0, 0, 0, 0,
                ]
            keys.append(key)
        }
        try withFileLock {
            try refuseExistingSlots(for: users)
            try appendSlots(slots)
        }
        index.withLock { index in
            for (offset, user) in users.enumerated() { index.keys[user] = keys[offset] }
        }
        return keys
    }

    /// Overwrites every slot of the user with zeros, counts the erasure and syncs; returns
    /// whether there was a slot.
    @discardableResult
    public func destroyDataKey(for user: UUID) throws -> Bool {
        let destroyed = try withFileLock { () throws -> Bool in
            try scanNewSlots()
            let slots = index.withLock { $0.allSlots(of: user) }
            guard !slots.isEmpty else { return false }
            try zeroSlots(slots)
            return true
        }
        forget(user)
        return destroyed
    }

    /// Every user with a data key, in id byte order (for exports).
    public func users() throws -> [UUID] {
        try scanNewSlots()
        return index.withLock { Array($0.slots.keys) }.sorted {
            uuidBytes($0).lexicographicallyPrecedes(uuidBytes($1))
        }
    }

    /// Stores a slot exported from another store wrapped with the same key-encryption key
    /// (an import); it must unwrap, or this throws.
    ///
    /// Refused, with nothing written, when a slot does not unwrap, when two slots name one user
    /// or when a user has a slot in this store already.
    public func importSlots(_ slots: [[UInt8]]) throws {
        var users: [UUID] = []
        for slot in slots {
            guard slot.count == Self.slotSize else {
                throw DataProtectionError.keyStore("a key slot is \(Self.slotSize) bytes")
            }
            let user = UUID(uuid: slot.withUnsafeBytes { $0.loadUnaligned(as: uuid_t.self) })
            guard user != Self.logSigningSlot else {
                throw DataProtectionError.keyStore("a data key cannot take the log signing key's reserved id")
            }
            _ = try slot.withUnsafeBytes { raw in
                try AESGCM.open(
                    UnsafeRawBufferPointer(rebasing: raw[16..<76]), key: kek.bytes, associatedData: wrapContext(user))
            }
            users.append(user)
        }
        try withFileLock {
            try refuseExistingSlots(for: users)
            try appendSlots(slots.flatMap { $0 })
        }
    }

    /// The key-encryption key's check value, as the store's header holds it (for exports).
    public var keyCheck: [UInt8] { kek.checkValue }

    /// Drops a cached key (another process erased it).
    public func forget(_ user: UUID) {
        index.withLock {
            $0.keys[user] = nil
            $0.slots[user] = nil
            $0.copies[user] = nil
        }
    }

    /// The slot's stored bytes (user id, nonce, wrapped key, tag), for audits and tests.
    public func storedSlot(for user: UUID) throws -> [UInt8]? {
        try scanNewSlots()
        guard let slot = index.withLock({ $0.slots[user] }) else { return nil }
        let bytes = try readSlot(slot)
        return Array(bytes[0..<16]) == uuidBytes(user) ? bytes : nil
    }

    private func scanNewSlots() throws {
        guard descriptor >= 0 else { return }
        var info = stat()
        fstat(descriptor, &info)
        let total = max(0, (Int(info.st_size) - Self.headerSize) / Self.slotSize)
        let first = index.withLock { $0.scannedSlots }
        guard total > first else { return }
        var buffer = [UInt8](repeating: 0, count: (total - first) * Self.slotSize)
        guard pread(descriptor, &buffer, buffer.count, off_t(Self.headerSize + first * Self.slotSize)) == buffer.count
        else {
            throw DataProtectionError.keyStore("cannot read \(path)")
        }
        index.withLock { index in
            for number in 0..<(total - first) {
                let slot = buffer[(number * Self.slotSize)..<(number * Self.slotSize + 16)]
                if slot.allSatisfy({ $0 == 0 }) { continue }
                let bytes = Array(slot)
                let user = UUID(
                    uuid: (
                        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                        bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
                    ))
                if user == Self.logSigningSlot { continue }  // the log's key, no user's
                index.add(first + number, of: user)
            }
            index.scannedSlots = total
        }
    }

    /// Called under the file lock before new slots are written: none of `users` may have a
    /// slot (in this file, written by any process), and none may come twice.
    private func refuseExistingSlots(for users: [UUID]) throws {
        try scanNewSlots()
        var seen = Set<UUID>()
        for user in users {
            guard seen.insert(user).inserted, index.withLock({ $0.slots[user] == nil }) else {
                throw DataProtectionError.keyStore(
                    "\(path) already holds a data key for user \(user.uuidString.lowercased()); "
                        + "a user has one key slot at most")
            }
        }
    }

    /// Called under the file lock: writes `bytes` (whole slots) at the end of the file and syncs.
    func appendSlots(_ bytes: [UInt8]) throws {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw DataProtectionError.keyStore("cannot stat \(path)") }
        let first = (Int(info.st_size) - Self.headerSize) / Self.slotSize
        try writeAndSync(bytes, at: Self.headerSize + first * Self.slotSize)
        try scanNewSlots()
    }

    /// Called under the file lock: overwrites `slots` with zeros, adds one to the erasure
    /// count, and syncs once; other processes drop their cached keys at their next look-up.
    private func zeroSlots(_ slots: [Int]) throws {
        let zeros = [UInt8](repeating: 0, count: Self.slotSize)
        for slot in slots {
            guard pwrite(descriptor, zeros, zeros.count, off_t(Self.headerSize + slot * Self.slotSize)) == zeros.count
            else {
                throw DataProtectionError.keyStore("cannot write \(path): \(String(cString: strerror(errno)))")
            }
        }
        let count = withUnsafeBytes(of: (erasureCount() &+ 1).bigEndian) { Array($0) }
        try writeAndSync(count, at: Self.erasureCountOffset)
    }

    /// The erasure count as the file holds it now.
    private func erasureCount() -> UInt64 {
        if let header {
            return UInt64(bigEndian: header.loadUnaligned(fromByteOffset: Self.erasureCountOffset, as: UInt64.self))
        }
        var bytes: UInt64 = 0
        guard descriptor >= 0, pread(descriptor, &bytes, 8, off_t(Self.erasureCountOffset)) == 8 else { return 0 }
        return UInt64(bigEndian: bytes)
    }

    /// Maps the header once it exists (a read-only open of an empty file reads it instead).
    private func mapHeader() {
        var info = stat()
        guard descriptor >= 0, fstat(descriptor, &info) == 0, Int(info.st_size) >= Self.headerSize else { return }
        guard let mapped = mmap(nil, Self.headerSize, PROT_READ, MAP_SHARED, descriptor, 0), mapped != MAP_FAILED
        else { return }
        header = mapped
    }

    /// Drops (and overwrites) every cached key when any process erased a key since the cache
    /// was last checked; the next look-up of each user reads their slot again.
    /// Returns the count it saw.
    @discardableResult
    private func dropCachedKeysAfterErasure() -> UInt64 {
        guard descriptor >= 0 else { return 0 }
        let count = erasureCount()
        index.withLock { index in
            guard index.erasures != count else { return }
            for user in Array(index.keys.keys) { index.keys[user]?.withUnsafeMutableBytes { cleanse($0) } }
            index.keys = [:]
            index.erasures = count
        }
        return count
    }

    /// Enforces one slot per user on open (see the type's rules).
    private func checkOneSlotPerUser(readOnly: Bool) throws {
        let duplicated = index.withLock { index in
            Dictionary(uniqueKeysWithValues: index.copies.keys.map { ($0, index.allSlots(of: $0)) })
        }
        guard !duplicated.isEmpty else { return }
        for (user, slots) in duplicated.sorted(by: { $0.value[0] < $1.value[0] }) {
            let name = user.uuidString.lowercased()
            let copies = try slots.map { try readSlot($0) }
            guard copies.allSatisfy({ $0 == copies[0] }) else {
                throw DataProtectionError.keyStore(
                    "\(path) holds \(slots.count) different data keys for user \(name) (slots "
                        + "\(slots.map(String.init).joined(separator: ", "))); it cannot tell which seals their data: "
                        + "restore the key store from the backup the log came from")
            }
            guard !readOnly else {
                throw DataProtectionError.keyStore(
                    "\(path) holds \(slots.count) copies of the data key of user \(name) (left by an interrupted "
                        + "import); open the directory for writing once (authd, or `authctl rebuild`) to remove them")
            }
        }
        try withFileLock {
            for (user, slots) in duplicated {
                try zeroSlots(Array(slots.dropFirst()))
                index.withLock { $0.copies[user] = nil }
            }
        }
        repairedDuplicates = duplicated.keys.sorted { uuidBytes($0).lexicographicallyPrecedes(uuidBytes($1)) }
    }

    func readSlot(_ slot: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.slotSize)
        guard pread(descriptor, &bytes, Self.slotSize, off_t(Self.headerSize + slot * Self.slotSize)) == Self.slotSize
        else {
            throw DataProtectionError.keyStore("cannot read slot \(slot) of \(path)")
        }
        return bytes
    }

    func writeAndSync(_ bytes: [UInt8], at offset: Int) throws {
        guard pwrite(descriptor, bytes, bytes.count, off_t(offset)) == bytes.count, fsync(descriptor) == 0 else {
            let reason = "cannot write \(path): \(String(cString: strerror(errno)))"
            // A short write leaves a torn slot at the end, which the next append writes over.
            if [ENOSPC, EDQUOT, EFBIG].contains(errno) { throw DataProtectionError.storageFull(reason) }
            throw DataProtectionError.keyStore(reason)
        }
    }

    /// Holds the store against other processes (`flock`) and against other threads of this
    /// one: a `flock` on one open file is shared by every thread that uses it, so without the
    /// mutex two threads appending at once would both write the same slot, and one user's
    /// key would be lost.
    func withFileLock<Result>(_ body: () throws -> Result) throws -> Result {
        try writers.withLock { _ in
            guard descriptor >= 0, flock(descriptor, LOCK_EX) == 0 else {
                throw DataProtectionError.keyStore("cannot lock \(path)")
            }
            defer { flock(descriptor, LOCK_UN) }
            return try body()
        }
    }

    func wrapContext(_ user: UUID) -> [UInt8] { Self.wrapContext(for: user) }

    /// The associated data of a user's wrapped data key: the same in every store, so that a
    /// slot exported from one imports into any other under the same key-encryption key.
    package static func wrapContext(for user: UUID) -> [UInt8] {
        Array("authlog data key ".utf8) + uuidBytes(user)
    }
}

package func uuidBytes(_ id: UUID) -> [UInt8] {
    withUnsafeBytes(of: id.uuid) { Array($0) }
}
