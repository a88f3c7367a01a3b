import CLMDB
import Glibc

/// A write-ahead journal in front of an environment's data file: a commit is durable once its
/// record is synced in the journal, one sequential write, and LMDB's pages reach the disk
/// later, many commits at a time (``Environment/Options/journal``).
///
/// Rules that make it crash-safe (each kept by this type, not by its callers):
/// - every write transaction's operations are recorded (``RedoOperations``); its commit writes
///   the record and syncs it (`fdatasync`) before LMDB commits, without syncing
///   (`MDB_NOSYNC`): readers never see a commit the journal does not hold;
/// - a **checkpoint** names a state of `data.mdb` known to be on disk: the data file is synced
///   first, then the checkpoint (the two meta pages as they were, and where the next record
///   goes) is written to `journal.checkpoint` and synced. One is started about once a
///   ``Options/checkpointInterval``, or when the segment being written is half full, on a
///   thread of its own; at most one is under way;
/// - a read transaction on that state, the **pin**, stays open until a later checkpoint is on
///   disk, so LMDB never writes over that state's pages (it reuses only pages freed before
///   its oldest reader): after a power loss the checkpoint's meta pages, written back, make a
///   whole state again, whatever else reached the disk;
/// - records go to two segments in turn; a checkpoint starts a segment, and a segment is
///   reused only once the checkpoint that made its records unneeded is on disk;
/// - a transaction whose operations outgrow a quarter of a segment is not recorded: it commits
///   without a record, and a checkpoint is written, synced, before any later record (by
///   whichever writer comes first, under LMDB's writer lock) and before the commit returns;
/// - growing the map ends every transaction: a checkpoint is written first, and the pin
///   taken again before any writer can commit (``Environment/setMapSize(_:)``);
/// - **replay** at open, when the last checkpoint is not a clean close's: after a power loss
///   (another boot id) the checkpoint's meta pages are written back first; then every record
///   after the checkpoint is applied again. Records are assignments, so applying one a state
///   already holds changes nothing;
/// - one writer: the journaled writer holds `journal.lock` exclusively while open; a writer
///   without the journal holds it shared, replaying an unclean journal first when it is the
///   only one; neither opens while the other kind holds it (``LMDBError/journalInUse``);
/// - a failed journal write or sync fails that commit and every later one until the
///   environment is opened again (the disk's state is then unknown); a commit LMDB refuses
///   after its record was synced has the record wiped before it fails.
public final class Journal: @unchecked Sendable {
    public struct Options: Sendable {
        /// Each segment's length in bytes.
        public var segmentBytes: Int
        /// How often a checkpoint is started while commits come, in seconds.
        public var checkpointInterval: Double
        /// Overrides this boot's id (tests that act out a power loss).
        public var bootID: String?
        /// Called on the thread that wrote each checkpoint, once it is on disk (tests that
        /// take `data.mdb` as a disk could hold it then).
        var checkpointWritten: (@Sendable () -> Void)?

        public init(segmentBytes: Int = 64 << 20, checkpointInterval: Double = 1.0, bootID: String? = nil) {
            self.segmentBytes = segmentBytes
            self.checkpointInterval = checkpointInterval
            self.bootID = bootID
        }
    }

    let directory: String
    let options: Options
    let bootID: String
    /// Each segment's length: the files' own when they exist (a journal left unclean is read
    /// as it was written), else ``Options/segmentBytes``.
    let segmentBytes: Int
    private let segments: [Int32]
    private let checkpointFile: Int32
    private var dataFile: Int32 = -1
    private var handle: OpaquePointer?
    private(set) var pageSize = 4096
    private var device: UInt64 = 0
    private var inode: UInt64 = 0

    // Under `mutex`: the writer's place and the checkpoints' state.
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()
    private var active = 0
    private var generation: UInt64 = 1
    private var offset = 0
    private var lastSequence: UInt64 = 0
    private var durable: Checkpoint?
    private var pins: [OpaquePointer] = []
    private var pending: (checkpoint: Checkpoint, pin: OpaquePointer)?
    private var inFlight = false
    private var failure: LMDBError?
    private var lastStart = 0.0
    private var unrecordedCommit = false
    private var stopping = false
    private var thread: pthread_t?

    /// The operations of the write transaction under way (one at a time: LMDB's writer lock).
    var redo = RedoOperations()
    /// Database names by handle, for the records (handles differ from one opening to the next).
    private var names: [MDB_dbi: String?] = [:]
    private var namesLock = pthread_mutex_t()

    /// The record being written (reused).
    private var record: [UInt8] = []

    init(directory: String, options: Options) throws(LMDBError) {
        self.directory = directory
        self.options = options
        self.bootID = options.bootID ?? currentBootID()
        var opened: [Int32] = []
        let existing = JournalFormat.segmentNames.map { name -> Int in
            var status = stat()
            return stat(directory + "/" + name, &status) == 0 ? Int(status.st_size) : 0
        }
        segmentBytes = existing[0] > 0 && existing[0] == existing[1] ? existing[0] : options.segmentBytes
        do throws(LMDBError) {
            for name in JournalFormat.segmentNames {
                opened.append(try Self.openSegment(directory + "/" + name, bytes: segmentBytes))
            }
            let descriptor = open(directory + "/" + JournalFormat.checkpointName, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw LMDBError(code: errno) }
            checkpointFile = descriptor
        } catch {
            for descriptor in opened { close(descriptor) }
            throw error
        }
        segments = opened
        pthread_mutex_init(&mutex, nil)
        pthread_mutex_init(&namesLock, nil)
        pthread_cond_init(&changed, nil)
    }

    deinit {
        for descriptor in segments { close(descriptor) }
        close(checkpointFile)
        if dataFile >= 0 { close(dataFile) }
        pthread_mutex_destroy(&mutex)
        pthread_mutex_destroy(&namesLock)
        pthread_cond_destroy(&changed)
    }

    /// Opens a segment, making it (full of zeros, synced) when missing or of another length.
    private static func openSegment(_ path: String, bytes: Int) throws(LMDBError) -> Int32 {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw LMDBError(code: errno) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            close(descriptor)
            throw LMDBError(code: errno)
        }
        if Int(status.st_size) != bytes {
            let chunk = [UInt8](repeating: 0, count: 1 << 20)
            var written = 0
            while written < bytes {
                let count = min(chunk.count, bytes - written)
                let result = chunk.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, count, off_t(written)) }
                if result < 0 {
                    if errno == EINTR { continue }
                    let code = errno
                    close(descriptor)
                    throw LMDBError(code: code)
                }
                written += result
            }
            if ftruncate(descriptor, off_t(bytes)) != 0 || fsync(descriptor) != 0 {
                let code = errno
                close(descriptor)
                throw LMDBError(code: code)
            }
        }
        return descriptor
    }

    // MARK: Checkpoints on disk

    /// The valid checkpoint slot with the higher number, if any.
    func storedCheckpoint() -> Checkpoint? {
        var status = stat()
        guard fstat(checkpointFile, &status) == 0, status.st_size > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        let count = bytes.withUnsafeMutableBytes { pread(checkpointFile, $0.baseAddress, $0.count, 0) }
        guard count == bytes.count else { return nil }
        return bytes.withUnsafeBytes { Checkpoint.latest(in: $0) }
    }

    /// Whether the file holds a checkpoint slot at all (a journal was made here).
    var hasCheckpointFile: Bool {
        var status = stat()
        return fstat(checkpointFile, &status) == 0 && status.st_size > 0
    }

    private func writeCheckpoint(_ checkpoint: Checkpoint) throws(LMDBError) {
        let slotBytes = Checkpoint.slotBytes(pageSize: pageSize)
        let encoded = checkpoint.encoded(pageSize: pageSize)
        let slot = Int(checkpoint.number % 2)
        if !hasCheckpointFile || fileLength(checkpointFile) < 2 * slotBytes {
            guard ftruncate(checkpointFile, off_t(2 * slotBytes)) == 0 else { throw LMDBError(code: errno) }
        }
        try writeAll(checkpointFile, encoded, at: slot * slotBytes)
        guard fdatasync(checkpointFile) == 0 else { throw LMDBError(code: errno) }
    }

    private func fileLength(_ descriptor: Int32) -> Int {
        var status = stat()
        return fstat(descriptor, &status) == 0 ? Int(status.st_size) : 0
    }

    /// `data.mdb`'s two meta pages as the system's buffers hold them now.
    private func readMetaPages() throws(LMDBError) -> [UInt8] {
        var pages = [UInt8](repeating: 0, count: 2 * pageSize)
        let count = pages.withUnsafeMutableBytes { pread(dataFile, $0.baseAddress, $0.count, 0) }
        guard count == pages.count else { throw LMDBError(code: count < 0 ? errno : EIO) }
        return pages
    }

    // MARK: Attaching to the open environment

    /// Called once LMDB has opened `handle` (with `MDB_NOSYNC`).
    func attach(_ handle: OpaquePointer) throws(LMDBError) {
        self.handle = handle
        var status = MDB_stat()
        try check(mdb_env_stat(handle, &status))
        pageSize = Int(status.ms_psize)
        let descriptor = open(directory + "/data.mdb", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LMDBError(code: errno) }
        dataFile = descriptor
        var file = stat()
        guard fstat(descriptor, &file) == 0 else { throw LMDBError(code: errno) }
        device = UInt64(file.st_dev)
        inode = UInt64(file.st_ino)
    }

    /// Takes up where `checkpoint` left the journal: the next record after it.
    func resume(after checkpoint: Checkpoint) {
        active = checkpoint.segment
        generation = checkpoint.generation
        offset = checkpoint.offset
        lastSequence = checkpoint.lastSequence
        durable = checkpoint
    }

    /// Sets where the writer goes on (replay, record by record).
    func setPosition(segment: Int, generation: UInt64, offset: Int, lastSequence: UInt64) {
        pthread_mutex_lock(&mutex)
        active = segment
        self.generation = generation
        self.offset = offset
        self.lastSequence = lastSequence
        pthread_mutex_unlock(&mutex)
    }

    func segmentDescriptor(_ index: Int) -> Int32 { segments[index] }

    var environmentHandle: OpaquePointer? { handle }

    func startThread() {
        let unmanaged = Unmanaged.passRetained(self)
        var thread = pthread_t()
        pthread_create(
            &thread, nil,
            { context in
                let journal = Unmanaged<Journal>.fromOpaque(context!).takeRetainedValue()
                journal.run()
                return nil
            }, unmanaged.toOpaque())
        self.thread = thread
    }

    // MARK: Names

    func remember(_ dbi: MDB_dbi, name: String?) {
        pthread_mutex_lock(&namesLock)
        names[dbi] = name
        pthread_mutex_unlock(&namesLock)
    }

    func name(of dbi: MDB_dbi) -> String? {
        pthread_mutex_lock(&namesLock)
        defer { pthread_mutex_unlock(&namesLock) }
        return names[dbi] ?? nil
    }

    // MARK: The writer's side (under LMDB's writer lock)

    /// Begins a write transaction's record.
    func beginRecording() {
        redo.reset(limit: segmentBytes / 4)
    }

    /// Writes and syncs the record of the transaction about to commit; returns its end, for
    /// ``wipe(recordAt:)`` should LMDB then refuse the commit.
    func append() throws(LMDBError) -> (segment: Int, offset: Int)? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        if let failure { throw failure }
        if unrecordedCommit { try checkpointHoldingWriterLock() }
        if redo.overflowed {
            unrecordedCommit = true
            return nil
        }
        let size = JournalFormat.recordBytes(payload: redo.payload.count)
        let now = Self.now()
        let full = offset + size > segmentBytes
        if inFlight && full {
            while inFlight { pthread_cond_wait(&changed, &mutex) }
            if let failure { throw failure }
        }
        if !inFlight && (full || now - lastStart >= options.checkpointInterval || offset > segmentBytes / 2) {
            try startCheckpoint()
            lastStart = now
        }
        let sequence = lastSequence + 1
        record.removeAll(keepingCapacity: true)
        withUnsafeBytes(of: JournalFormat.recordMagic.littleEndian) { record.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(redo.payload.count).littleEndian) { record.append(contentsOf: $0) }
        withUnsafeBytes(of: generation.littleEndian) { record.append(contentsOf: $0) }
        withUnsafeBytes(of: sequence.littleEndian) { record.append(contentsOf: $0) }
        let sum = record.withUnsafeBytes { header in
            redo.payload.withUnsafeBytes { JournalFormat.recordChecksum(header: header, payload: $0) }
        }
        withUnsafeBytes(of: sum.littleEndian) { record.append(contentsOf: $0) }
        record.append(contentsOf: redo.payload)
        record += [UInt8](repeating: 0, count: size - record.count)
        do throws(LMDBError) {
            try writeAll(segments[active], record, at: offset)
            guard fdatasync(segments[active]) == 0 else { throw LMDBError(code: errno) }
        } catch {
            failure = error
            throw error
        }
        let place = (segment: active, offset: offset)
        offset += size
        lastSequence = sequence
        return place
    }

    /// Wipes a synced record whose commit LMDB refused, so that no replay applies it.
    func wipe(recordAt place: (segment: Int, offset: Int)) {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        let zeros = [UInt8](repeating: 0, count: JournalFormat.headerBytes)
        do throws(LMDBError) {
            try writeAll(segments[place.segment], zeros, at: place.offset)
            guard fdatasync(segments[place.segment]) == 0 else { throw LMDBError(code: errno) }
            offset = place.offset
            lastSequence -= 1
        } catch {
            failure = error
        }
    }

    /// After a commit made without a record: a checkpoint on disk before it returns, unless
    /// a writer that came first has written one. Takes LMDB's writer lock itself.
    func checkpointAfterUnrecordedCommit() throws(LMDBError) {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(handle, nil, 0, &txn))
        defer { mdb_txn_abort(txn) }
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        if let failure { throw failure }
        if unrecordedCommit { try checkpointHoldingWriterLock() }
    }

    /// Starts a checkpoint of the state committed last (the writer lock is held, so none
    /// commits meanwhile): pins it, reads its meta pages, moves the writer to the other
    /// segment, and hands the rest to the checkpoint thread.
    private func startCheckpoint() throws(LMDBError) {
        let metaPages = try readMetaPages()
        var pin: OpaquePointer?
        try check(mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &pin))
        active = 1 - active
        generation += 1
        offset = 0
        let checkpoint = Checkpoint(
            number: (durable?.number ?? 0) + 1, lastSequence: lastSequence, segment: active, generation: generation,
            offset: 0, clean: false, bootID: bootID, device: device, inode: inode, metaPages: metaPages)
        pending = (checkpoint, pin!)
        inFlight = true
        pthread_cond_broadcast(&changed)
    }

    /// Writes a checkpoint of the state committed last, at once, keeping the writer where it
    /// is. The caller holds `mutex` and keeps every writer out (LMDB's writer lock, or the
    /// gate exclusively); waits for a checkpoint under way first.
    private func checkpointHoldingWriterLock(clean: Bool = false, pin: Bool = true) throws(LMDBError) {
        while inFlight { pthread_cond_wait(&changed, &mutex) }
        if let failure { throw failure }
        do throws(LMDBError) {
            try check(mdb_env_sync(handle, 1))
            let metaPages = try readMetaPages()
            var newPin: OpaquePointer?
            if pin { try check(mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &newPin)) }
            let checkpoint = Checkpoint(
                number: (durable?.number ?? 0) + 1, lastSequence: lastSequence, segment: active,
                generation: generation, offset: offset, clean: clean, bootID: bootID, device: device, inode: inode,
                metaPages: metaPages)
            do throws(LMDBError) {
                try writeCheckpoint(checkpoint)
            } catch {
                if let newPin { mdb_txn_abort(newPin) }
                throw error
            }
            durable = checkpoint
            for old in pins { mdb_txn_abort(old) }
            pins = newPin.map { [$0] } ?? []
            unrecordedCommit = false
            lastStart = Self.now()
            options.checkpointWritten?()
        } catch {
            failure = error
            throw error
        }
    }

    /// A checkpoint written now by a caller that keeps writers out (see above).
    func checkpointNow(clean: Bool = false, pin: Bool = true) throws(LMDBError) {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        try checkpointHoldingWriterLock(clean: clean, pin: pin)
    }

    /// Ends every pin (for a resize, under the gate held exclusively, after ``checkpointNow``
    /// with `pin: false`).
    func dropPins() {
        pthread_mutex_lock(&mutex)
        while inFlight { pthread_cond_wait(&changed, &mutex) }
        for pin in pins { mdb_txn_abort(pin) }
        pins = []
        pthread_mutex_unlock(&mutex)
    }

    /// Pins the state committed last again (after a resize, before any writer commits).
    /// Without it no commit may follow: a failure fails every later one.
    func pinAgain() throws(LMDBError) {
        var pin: OpaquePointer?
        let rc = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &pin)
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        if rc != 0 {
            failure = LMDBError(code: rc)
            throw LMDBError(code: rc)
        }
        pins.append(pin!)
    }

    /// The state committed last is synced, written as a clean checkpoint, and the pins end:
    /// for ``Environment/close()``, every transaction ended. Stops the checkpoint thread.
    func closeCleanly() {
        pthread_mutex_lock(&mutex)
        while inFlight { pthread_cond_wait(&changed, &mutex) }
        if failure == nil { try? checkpointHoldingWriterLock(clean: true, pin: false) }
        for pin in pins { mdb_txn_abort(pin) }
        pins = []
        stopping = true
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    // MARK: The checkpoint thread

    private func run() {
        pthread_mutex_lock(&mutex)
        while true {
            while pending == nil && !stopping { pthread_cond_wait(&changed, &mutex) }
            guard let (checkpoint, pin) = pending else { break }
            pending = nil
            pthread_mutex_unlock(&mutex)
            var outcome: LMDBError?
            do throws(LMDBError) {
                try check(mdb_env_sync(handle, 1))
                try writeCheckpoint(checkpoint)
            } catch {
                outcome = error
            }
            pthread_mutex_lock(&mutex)
            if let outcome {
                failure = outcome
                pins.append(pin)
            } else {
                durable = checkpoint
                for old in pins { mdb_txn_abort(old) }
                pins = [pin]
                options.checkpointWritten?()
            }
            inFlight = false
            pthread_cond_broadcast(&changed)
        }
        pthread_mutex_unlock(&mutex)
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

/// Writes all of `bytes` at `offset`.
func writeAll(_ descriptor: Int32, _ bytes: [UInt8], at offset: Int) throws(LMDBError) {
    var written = 0
    while written < bytes.count {
        let result = bytes.withUnsafeBytes {
            pwrite(descriptor, $0.baseAddress! + written, $0.count - written, off_t(offset + written))
        }
        if result < 0 {
            if errno == EINTR { continue }
            throw LMDBError(code: errno)
        }
        written += result
    }
}
