import CLMDB
import Glibc

/// Keeps LMDB's two kinds of writer, with and without a writable map
/// (``Environment/Options/writableMap``), out of one environment at the same time: LMDB does
/// not check this itself, and the two do not cooperate.
///
/// Each kind has an empty file in the environment's directory, `writers-in-map.lock` or
/// `writers-in-file.lock`, and a third, `writers-look.lock`, is held by whoever looks at them
/// (0600, made by the first writer or look that needs them, even one then refused; a look
/// for writers makes none where no writer has). Rules:
/// - a writer holds a shared `flock` on its own kind's file from before LMDB opens the
///   environment until it closes it, so writers of one kind share the environment freely;
/// - having it, the writer looks: it holds the look file exclusively (waiting its turn) while
///   it tries the other kind's file exclusively without waiting; held, which only a writer of
///   the other kind can do then (or a process of a build before the look file), the open is
///   refused (``LMDBError/otherKindOfWriter``) before LMDB opens or makes any file of the
///   environment;
/// - every look (a writer's, ``isOpenToWriters(directory:)``'s, or
///   ``excludingWriters(directory:)``'s taking of both files) holds the look file (unless
///   this process may not open it), and none waits for anything while it does: so no look is
///   taken for a writer by another, and a writer waits for files being moved at its own
///   kind's file;
/// - so of two writers of different kinds opening at once, at most one goes on.
///
/// `flock` is held by an open file description: within one process, two opens of different
/// kinds refuse each other too. Readers take no lock. Like LMDB's own `fcntl` locks, this
/// holds for processes of one machine only.
public final class WriterKindLock: @unchecked Sendable {
    /// The lock files' names.
    public static let inMapName = "writers-in-map.lock"
    public static let inFileName = "writers-in-file.lock"
    public static let lookName = "writers-look.lock"

    // Emptied at release; only `release()` writes it, under the caller's own exclusion
    // (``Environment/close()`` holds the gate exclusively) or in `deinit`.
    private var descriptors: [Int32]

    /// Takes the lock of writers in the map (`inMap`) or in the file in `directory`, an
    /// existing directory.
    public init(directory: String, inMap: Bool) throws(LMDBError) {
        let own = try Self.openFile(directory + "/" + (inMap ? Self.inMapName : Self.inFileName))
        do {
            try Self.lock(own, LOCK_SH)  // waits only while files are moved, or for a look
            try Self.looking(in: directory) { () throws(LMDBError) in
                let other = try Self.openFile(directory + "/" + (inMap ? Self.inFileName : Self.inMapName))
                // Closing it gives the exclusive lock back: a writer of the other kind that
                // waits for its shared one goes on, and finds this one's held.
                defer { Self.unlockAndClose(other) }
                try Self.lock(other, LOCK_EX | LOCK_NB, refusal: .otherKindOfWriter)
            }
        } catch {
            Self.unlockAndClose(own)
            throw error
        }
        descriptors = [own]
    }

    private init(holding descriptors: [Int32]) {
        self.descriptors = descriptors
    }

    /// Both kinds' files, exclusively, taken without waiting for a writer (only for another
    /// look): no writer of either kind has the environment in `directory` open, and none opens
    /// it (a writer waits) until ``release()``. For moving an environment's files into or out
    /// of the directory. Throws ``LMDBError/writerOpen`` while a writer has it open.
    public static func excludingWriters(directory: String) throws(LMDBError) -> WriterKindLock {
        try looking(in: directory) { () throws(LMDBError) in
            var held: [Int32] = []
            do throws(LMDBError) {
                for name in [inMapName, inFileName] {
                    held.append(try openFile(directory + "/" + name))
                    try lock(held[held.count - 1], LOCK_EX | LOCK_NB, refusal: .writerOpen)
                }
            } catch {
                for descriptor in held { Self.unlockAndClose(descriptor) }
                throw error
            }
            return WriterKindLock(holding: held)
        }
    }

    /// Whether a writer of either kind has the environment in `directory` open now (or its
    /// files are held to be moved). Makes no file where no writer has made one: a writer makes
    /// its kind's file before LMDB opens the environment; where one is, the look is taken as
    /// every look is, making the look file if a build before it made the others.
    public static func isOpenToWriters(directory: String) throws(LMDBError) -> Bool {
        let names = [inMapName, inFileName]
        guard names.contains(where: { access(directory + "/" + $0, F_OK) == 0 }) else { return false }
        return try looking(in: directory) { () throws(LMDBError) in
            for name in names {
                let descriptor = open(directory + "/" + name, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
                if descriptor < 0 {
                    if errno == ENOENT { continue }
                    throw LMDBError(code: errno)
                }
                defer { Self.unlockAndClose(descriptor) }
                guard try tryLock(descriptor, LOCK_EX | LOCK_NB) else { return true }
            }
            return false
        }
    }

    /// Runs `look` holding the look file of `directory` (made if missing) exclusively, after
    /// the look before it; `look` must not wait for a lock. A look file this process may not
    /// open (another user's: `authctl` run as root made it) is done without, as before it
    /// existed: its only use is to keep looks from being taken for writers.
    private static func looking<Result>(
        in directory: String, _ look: () throws(LMDBError) -> Result
    ) throws(LMDBError) -> Result {
        let descriptor = open(directory + "/" + lookName, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if descriptor < 0 {
            guard errno == EACCES || errno == EPERM else { throw LMDBError(code: errno) }
            return try look()
        }
        defer { Self.unlockAndClose(descriptor) }
        try lock(descriptor, LOCK_EX)
        return try look()
    }

    deinit {
        release()
    }

    /// Gives `descriptor`'s lock back, then closes it. The unlock is what frees the lock at
    /// once: a child process forked meanwhile by another thread holds a copy of the descriptor
    /// until its `exec` closes it, and a `flock` stays held while any copy is open (a writer
    /// of the other kind opening right after a close was refused so in a parallel test run).
    private static func unlockAndClose(_ descriptor: Int32) {
        _ = flock(descriptor, LOCK_UN)
        Glibc.close(descriptor)
    }

    /// Gives the lock back; later calls do nothing.
    public func release() {
        for descriptor in descriptors { Self.unlockAndClose(descriptor) }
        descriptors = []
    }

    private static func openFile(_ path: String) throws(LMDBError) -> Int32 {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw LMDBError(code: errno) }
        return descriptor
    }

    /// `flock(descriptor, operation)`, again after a signal: whether it was taken, false when
    /// it would wait (`operation` has `LOCK_NB`).
    private static func tryLock(_ descriptor: Int32, _ operation: Int32) throws(LMDBError) -> Bool {
        while flock(descriptor, operation) != 0 {
            if errno == EINTR { continue }
            if errno == EWOULDBLOCK { return false }
            throw LMDBError(code: errno)
        }
        return true
    }

    /// `flock(descriptor, operation)`, again after a signal; `refusal` when it would wait
    /// (`LOCK_NB`).
    private static func lock(
        _ descriptor: Int32, _ operation: Int32, refusal: LMDBError = LMDBError(code: EWOULDBLOCK)
    ) throws(LMDBError) {
        guard try tryLock(descriptor, operation) else { throw refusal }
    }
}

extension LMDBError {
    /// A process writes the environment with the other kind of writer (``WriterKindLock``).
    /// Its code is `EBUSY`, which LMDB itself does not return.
    public static let otherKindOfWriter = LMDBError(code: EBUSY)
    /// A writer has the environment open (``WriterKindLock/excludingWriters(directory:)``).
    /// Its code is `ETXTBSY`, which neither LMDB nor `flock` returns (LMDB's own `EAGAIN`,
    /// another process holding the environment exclusively, stays distinct).
    public static let writerOpen = LMDBError(code: ETXTBSY)
}
