import Foundation

/// Files and directories that hold secrets (the key-encryption key, the data keys, signing
/// keys, mail with tokens): owner-only from their first byte.
///
/// Rules:
/// - a secret file is created by `open(O_CREAT | O_EXCL | O_NOFOLLOW)` with mode 0600, so no
///   other user can open it at any moment, and an existing file or a planted symbolic link is
///   never written through;
/// - a secret directory is created by `mkdir` with mode 0700 (never created open and
///   tightened afterwards);
/// - an existing data directory is tightened to 0700 by a process that may write to it, and
///   refused when others can write to it and it cannot be tightened (see
///   ``secureDirectory(_:readOnly:)``).
public enum SecretFile {
    /// Creates `path` (which must not exist) with mode 0600, writes `contents` and syncs it.
    /// On failure nothing is left at `path`.
    public static func create(_ path: String, contents: [UInt8]) throws(DataProtectionError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .keyStore("cannot create \(path): \(errnoText())") }
        defer { close(descriptor) }
        do {
            try writeAll(descriptor, contents, path: path)
        } catch {
            unlink(path)
            throw error
        }
    }

    /// Replaces `path` with a 0600 file holding `contents`, all at once: a temporary file beside
    /// it (`PATH.tmp-UUID`) is made as ``create(_:contents:)`` makes one, renamed over `path`
    /// (a symbolic link there is replaced, never written through), and the directory synced.
    /// A crash leaves the old contents or the new, never a mix (and perhaps the temporary
    /// file). A failure before the rename leaves `path` as it was and no temporary file; a
    /// failure to sync the directory after it is thrown too, with `path` already replaced
    /// but the replacement perhaps not yet on disk.
    public static func replace(_ path: String, contents: [UInt8]) throws(DataProtectionError) {
        let temporary = path + ".tmp-" + UUID().uuidString
        try create(temporary, contents: contents)
        try move(temporary, over: path)
        try syncParent(of: path)
    }

    /// ``replace(_:contents:)``, with the rename left to `renaming`, which is called once the
    /// temporary file is written and synced and may check what it needs (under a lock of its
    /// own) before it calls `rename`, or throw instead: then the temporary file is removed,
    /// `path` is left as it was, and its error is thrown (as when it returns without calling
    /// `rename`, without an error). So only the rename need be under a caller's lock, not the
    /// writes and syncs around it.
    public static func replace(
        _ path: String, contents: [UInt8], renaming: (_ rename: () throws(DataProtectionError) -> Void) throws -> Void
    ) throws {
        let temporary = path + ".tmp-" + UUID().uuidString
        try create(temporary, contents: contents)
        var renamed = false
        do {
            try renaming { () throws(DataProtectionError) in
                try move(temporary, over: path)
                renamed = true
            }
        } catch {
            if !renamed { unlink(temporary) }
            throw error
        }
        guard renamed else {  // it chose not to: `path` stays as it was
            unlink(temporary)
            return
        }
        try syncParent(of: path)
    }

    /// Renames `temporary` over `path`; on failure removes `temporary`.
    private static func move(_ temporary: String, over path: String) throws(DataProtectionError) {
        guard rename(temporary, path) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw .keyStore("cannot rename \(temporary) to \(path): \(reason)")
        }
    }

    /// Syncs the directory holding `path`, so that a rename into it is on the disk.
    private static func syncParent(of path: String) throws(DataProtectionError) {
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let directory = open(parent.isEmpty ? "." : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else {
            throw .keyStore("\(path) replaced, but not yet durable: cannot open \(parent): \(errnoText())")
        }
        defer { close(directory) }
        guard fsync(directory) == 0 else {
            throw .keyStore("\(path) replaced, but not yet durable: cannot sync \(parent): \(errnoText())")
        }
    }

    /// ``replace(_:contents:)``, for a file whose old contents were a secret in the clear: the
    /// old file, held open across the rename, then has its bytes overwritten with zeros and
    /// synced (``overwriteWithZeros(_:keepingNames:)``). Returns why they could not be
    /// overwritten (the file was replaced all the same), or `nil` when they were.
    ///
    /// Rules:
    /// - `path` must exist: a file removed meanwhile is not made again (an error).
    /// - The old bytes are overwritten only once no name is left to them: a file with other
    ///   names (hard links: a backup made with `cp -al`, say) is replaced but not overwritten.
    /// - When the directory's sync fails after the rename (an error), the old bytes are kept:
    ///   until the rename is on the disk, a crash may bring the old file back, and wiped it
    ///   would hold nothing. A crash between the rename and the overwrite leaves them in free
    ///   blocks.
    public static func replaceOverwritingOld(_ path: String, contents: [UInt8]) throws(DataProtectionError)
        -> String?
    {
        let old = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
        if old < 0 && errno == ENOENT { throw .keyStore("\(path) is gone") }
        let notOpened = old < 0 ? "cannot open it to overwrite it: \(errnoText())" : nil
        defer { if old >= 0 { close(old) } }
        try replace(path, contents: contents)
        return notOpened ?? overwriteWithZeros(old, keepingNames: 0)
    }

    /// Overwrites the bytes of the file open at `descriptor` with zeros and syncs it, when it
    /// has at most `keepingNames` names (0: it was unlinked or renamed over; 1: its own, about
    /// to be removed), which takes them off a disk whose file system writes in place (ext4,
    /// xfs; not btrfs or ZFS, and an SSD may keep the old cells until it reuses them). Returns
    /// why not, or `nil`.
    public static func overwriteWithZeros(_ descriptor: Int32, keepingNames: Int) -> String? {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return "cannot stat it: \(errnoText())" }
        guard info.st_nlink <= keepingNames else {
            return "other names (hard links) are left to it, whose bytes are left as they are"
        }
        guard info.st_size > 0 else { return nil }
        let zeros = [UInt8](repeating: 0, count: Int(info.st_size))
        guard pwrite(descriptor, zeros, zeros.count, 0) == zeros.count else { return errnoText() }
        guard fsync(descriptor) == 0 else { return errnoText() }
        return nil
    }

    /// Runs `body` holding an exclusive `flock` on `path` (a file or a directory), so that
    /// every writer that does the same waits its turn, in this process or another. For a file
    /// that a rename may replace, the lock is taken on the file `path` names once it is held
    /// (taken again otherwise); `body` must not write to a file it renamed into place, whose
    /// lock it does not hold. A symbolic link at `path` is refused unless `followingLinks`.
    ///
    /// Never on the data directory itself: the key store holds a shared lock there.
    public static func withExclusiveLock<Result>(
        on path: String, followingLinks: Bool = false, _ body: () throws -> Result
    ) throws -> Result {
        while true {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC | (followingLinks ? 0 : O_NOFOLLOW))
            guard descriptor >= 0 else { throw DataProtectionError.keyStore("cannot open \(path): \(errnoText())") }
            defer { close(descriptor) }
            while flock(descriptor, LOCK_EX) != 0 {
                guard errno == EINTR else {
                    throw DataProtectionError.keyStore("cannot lock \(path): \(errnoText())")
                }
            }
            var held = stat()
            var named = stat()
            guard fstat(descriptor, &held) == 0 else {
                throw DataProtectionError.keyStore("cannot stat \(path): \(errnoText())")
            }
            guard stat(path, &named) == 0, named.st_dev == held.st_dev, named.st_ino == held.st_ino else { continue }
            return try body()
        }
    }

    /// Appends `contents` to `path` and syncs, creating it with mode 0600 if it is missing;
    /// an existing file is set to 0600 first.
    ///
    /// All or nothing: on failure (a full disk, say) a file this call created is removed and
    /// an existing one is cut back to its former length, so no empty or half-written line is
    /// left for the next reader to trip on.
    public static func append(_ path: String, contents: [UInt8]) throws(DataProtectionError) {
        var created = true
        var descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if descriptor < 0 && errno == EEXIST {
            created = false
            descriptor = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
        }
        guard descriptor >= 0 else { throw .keyStore("cannot open \(path): \(errnoText())") }
        defer { close(descriptor) }
        guard fchmod(descriptor, 0o600) == 0 else { throw .keyStore("cannot chmod \(path): \(errnoText())") }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .keyStore("cannot stat \(path): \(errnoText())") }
        do {
            try writeAll(descriptor, contents, path: path)
        } catch {
            if created { unlink(path) } else { _ = ftruncate(descriptor, info.st_size) }
            throw error
        }
    }

    /// Creates the directory `path` with mode 0700 unless it exists (its parents as usual).
    public static func makeDirectory(_ path: String) throws(DataProtectionError) {
        // Not NSString's deletingLastPathComponent: it traps on a one-character path ("d").
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !parent.isEmpty && !FileManager.default.fileExists(atPath: parent) {
            do {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw .keyStore("cannot create \(parent): \(error.localizedDescription)")
            }
        }
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw .keyStore("cannot create \(path): \(errnoText())")
        }
    }

    /// Checks an existing data directory before anything in it is trusted.
    ///
    /// A directory that group or others may read, write or enter is tightened to 0700 when
    /// this process owns it and may write (`readOnly` false). One that others may write and
    /// that stays so is refused: whoever can write there can swap the key store, the log or
    /// the key-encryption key. A missing directory is left to the caller.
    public static func secureDirectory(_ path: String, readOnly: Bool) throws(DataProtectionError) {
        var info = stat()
        guard stat(path, &info) == 0 else { return }  // a link to a directory is checked as that directory
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return }  // the log's open says what it is
        var mode = info.st_mode & 0o7777
        if mode & 0o077 != 0, !readOnly, info.st_uid == geteuid(), chmod(path, 0o700) == 0 {
            mode = 0o700
        }
        guard mode & 0o022 == 0 else {
            throw .unsafePermissions(
                "\(path) is writable by others (mode \(String(mode, radix: 8))); "
                    + "make it owner-only with `chmod 700 \(path)` and check its files")
        }
    }

    /// Why an existing file that should hold a secret (a key-encryption key, a relay's
    /// password) cannot be trusted to, or nil when it can: group or others may read or write
    /// it, or it belongs to a user other than this process's or root (who can rewrite it,
    /// and so choose the secret). `what` names the file in the answer.
    public static func problem(with info: stat, at path: String, what: String) -> String? {
        if info.st_mode & 0o077 != 0 {
            return "\(what) \(path) can be read or written by others (mode \(String(info.st_mode & 0o777, radix: 8))); "
                + "make it 0600 or 0400"
        }
        if info.st_uid != geteuid() && info.st_uid != 0 {
            return "\(what) \(path) belongs to another user (uid \(info.st_uid)), who can rewrite it; "
                + "give it to the user this process runs as (uid \(geteuid())) or to root"
        }
        return nil
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], path: String) throws(DataProtectionError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            guard written > 0 else { throw .keyStore("cannot write \(path): \(errnoText())") }
            offset += written
        }
        guard fsync(descriptor) == 0 else { throw .keyStore("cannot sync \(path): \(errnoText())") }
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }
