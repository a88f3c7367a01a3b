import CLMDB
import Glibc

/// Keeps LMDB's two kinds of writer, with and without a writable map
/// (``Environment/Options/writableMap``), out of one environment at the same time: LMDB does
/// not check this itself, and the two do not cooperate.
///
/// Each kind has an empty file in the environment's directory, `writers-in-map.lock` or
/// `writers-in-file.lock` (0600, made by the first writer that needs it). Rules:
/// - a writer holds a shared `flock` on its own kind's file from before LMDB opens the
///   environment until it closes it, so writers of one kind share the environment freely;
/// - having it, the writer tries the other kind's file exclusively without waiting; held by
///   anyone, the open is refused (``LMDBError/otherKindOfWriter``) and nothing of the
///   environment has been touched;
/// - so of two writers of different kinds opening at once, at most one goes on (both may be
///   refused: opening again then settles it).
///
/// `flock` is held by an open file description: within one process, two opens of different
/// kinds refuse each other too. Readers take no lock. Like LMDB's own `fcntl` locks, this
/// holds for processes of one machine only.
public final class WriterKindLock: @unchecked Sendable {
    /// The lock files' names.
    public static let inMapName = "writers-in-map.lock"
    public static let inFileName = "writers-in-file.lock"

    // -1 once released; only `release()` writes it, under the caller's own exclusion
    // (``Environment/close()`` holds the gate exclusively) or in `deinit`.
    private var descriptor: Int32

    /// Takes the lock of writers in the map (`inMap`) or in the file in `directory`, an
    /// existing directory.
    public init(directory: String, inMap: Bool) throws(LMDBError) {
        let own = directory + "/" + (inMap ? Self.inMapName : Self.inFileName)
        let other = directory + "/" + (inMap ? Self.inFileName : Self.inMapName)
        descriptor = try Self.openFile(own)
        do {
            try Self.lock(descriptor, LOCK_SH)
            let probe = try Self.openFile(other)
            defer { Glibc.close(probe) }
            // Closing the probe gives the exclusive lock back: a writer of the other kind that
            // waits for its shared one goes on, and finds this one's held.
            try Self.lock(probe, LOCK_EX | LOCK_NB)
        } catch {
            Glibc.close(descriptor)
            throw error
        }
    }

    deinit {
        release()
    }

    /// Gives the lock back; later calls do nothing.
    public func release() {
        if descriptor >= 0 {
            Glibc.close(descriptor)
            descriptor = -1
        }
    }

    private static func openFile(_ path: String) throws(LMDBError) -> Int32 {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw LMDBError(code: errno) }
        return descriptor
    }

    private static func lock(_ descriptor: Int32, _ operation: Int32) throws(LMDBError) {
        while flock(descriptor, operation) != 0 {
            if errno == EINTR { continue }
            throw errno == EWOULDBLOCK ? .otherKindOfWriter : LMDBError(code: errno)
        }
    }
}

extension LMDBError {
    /// A process writes the environment with the other kind of writer (``WriterKindLock``).
    /// Its code is `EBUSY`, which LMDB itself does not return.
    public static let otherKindOfWriter = LMDBError(code: EBUSY)
}
