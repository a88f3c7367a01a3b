import CLMDB
import Glibc

extension Journal {
    /// Before LMDB opens the environment: the checkpoint to replay from (`nil` when the
    /// journal is new or was closed cleanly). After a power loss (the checkpoint's boot id is
    /// not this boot's) the checkpoint's meta pages are written back into `data.mdb` first,
    /// which needs no other process to have the environment open.
    func prepareForOpen() throws(LMDBError) -> Checkpoint? {
        guard hasCheckpointFile else { return nil }
        guard let checkpoint = storedCheckpoint() else { throw LMDBError.journalUnreadable }
        if checkpoint.clean { return nil }
        if checkpoint.bootID != bootID { try writeBackMetaPages(of: checkpoint) }
        return checkpoint
    }

    private func writeBackMetaPages(of checkpoint: Checkpoint) throws(LMDBError) {
        let descriptor = open(directory + "/data.mdb", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw LMDBError(code: errno) }
        defer { close(descriptor) }
        var file = stat()
        guard fstat(descriptor, &file) == 0 else { throw LMDBError(code: errno) }
        guard UInt64(file.st_dev) == checkpoint.device, UInt64(file.st_ino) == checkpoint.inode else {
            throw LMDBError.journalOfAnotherFile
        }
        try Self.refuseOtherOpeners(lockFile: directory + "/lock.mdb")
        try writeAll(descriptor, checkpoint.metaPages, at: 0)
        guard fdatasync(descriptor) == 0 else { throw LMDBError(code: errno) }
    }

    /// LMDB holds a read lock on `lock.mdb`'s first byte in every process that has the
    /// environment open: a write lock on it is granted only when none has. Released at once
    /// (the caller opens the environment next; one opening in the meantime sees the meta
    /// pages already written back).
    static func refuseOtherOpeners(lockFile: String) throws(LMDBError) {
        let descriptor = open(lockFile, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return }  // no lock file: nobody has it open
        defer { close(descriptor) }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 0
        lock.l_len = 1
        guard fcntl(descriptor, F_SETLK, &lock) == 0 else { throw LMDBError.journalInUse }
        lock.l_type = Int16(F_UNLCK)
        _ = fcntl(descriptor, F_SETLK, &lock)
    }

    /// Applies every record after `checkpoint` again, on the open environment (this process
    /// its only writer). First writes a checkpoint of the state found, still naming the same
    /// first record, so that a power loss during the replay finds a state whose pages the pin
    /// kept; ends with a checkpoint after the last record applied.
    func replay(from checkpoint: Checkpoint) throws(LMDBError) {
        resume(after: checkpoint)
        try checkpointNow()
        var segment = checkpoint.segment
        var generation = checkpoint.generation
        var offset = checkpoint.offset
        var sequence = checkpoint.lastSequence + 1
        var switched = false
        var databases: [String?: MDB_dbi] = [:]
        while true {
            guard let payload = readRecord(segment: segment, generation: generation, offset: offset, sequence: sequence)
            else {
                if switched { break }
                segment = 1 - segment
                generation += 1
                offset = 0
                switched = true
                continue
            }
            switched = false
            try apply(payload, databases: &databases)
            offset += JournalFormat.recordBytes(payload: payload.count)
            setPosition(segment: segment, generation: generation, offset: offset, lastSequence: sequence)
            sequence += 1
        }
        // Where the writer goes on: after the last record applied, in its segment.
        try checkpointNow()
    }

    /// The payload of the record expected at `offset`, or `nil` where the segment's records end.
    func readRecord(segment: Int, generation: UInt64, offset: Int, sequence: UInt64) -> [UInt8]? {
        guard offset + JournalFormat.headerBytes <= segmentBytes else { return nil }
        var header = [UInt8](repeating: 0, count: JournalFormat.headerBytes)
        guard readAll(segmentDescriptor(segment), into: &header, at: offset) else { return nil }
        return header.withUnsafeBytes { raw -> [UInt8]? in
            var reader = JournalReader(raw)
            guard reader.read(UInt32.self) == JournalFormat.recordMagic, let length = reader.read(UInt32.self),
                reader.read(UInt64.self) == generation, reader.read(UInt64.self) == sequence,
                let sum = reader.read(UInt64.self),
                offset + JournalFormat.recordBytes(payload: Int(length)) <= segmentBytes
            else { return nil }
            var payload = [UInt8](repeating: 0, count: Int(length))
            guard readAll(segmentDescriptor(segment), into: &payload, at: offset + JournalFormat.headerBytes),
                payload.withUnsafeBytes({ JournalFormat.recordChecksum(header: raw, payload: $0) }) == sum
            else { return nil }
            return payload
        }
    }

    /// Applies one record in a write transaction of its own; a full map grows (a checkpoint
    /// first, as every resize of a journaled environment) and the record is applied again.
    private func apply(_ payload: [UInt8], databases: inout [String?: MDB_dbi]) throws(LMDBError) {
        while true {
            var txn: OpaquePointer?
            try check(mdb_txn_begin(environmentHandle, nil, 0, &txn))
            var rc: Int32 = 0
            let outcome = payload.withUnsafeBytes { bytes -> Result<Bool, LMDBError> in
                do throws(LMDBError) {
                    return .success(
                        try RedoOperations.forEach(in: bytes) { kind, name, flags, key, value throws(LMDBError) in
                            try Self.apply(
                                kind, name: name, flags: flags, key: key, value: value, txn: txn!,
                                databases: &databases)
                        })
                } catch {
                    return .failure(error)
                }
            }
            switch outcome {
            case .success(true): break
            case .success(false):
                mdb_txn_abort(txn)
                throw LMDBError.journalUnreadable
            case .failure(let error):
                mdb_txn_abort(txn)
                rc = error.code
            }
            if rc == 0 { rc = mdb_txn_commit(txn) }  // frees the transaction, committed or not
            if rc == 0 { return }
            // Handles opened in a transaction that did not commit are gone with it.
            databases = [:]
            guard rc == MDB_MAP_FULL else { throw LMDBError(code: rc) }
            try checkpointNow(pin: false)
            var info = MDB_envinfo()
            mdb_env_info(environmentHandle, &info)
            try check(mdb_env_set_mapsize(environmentHandle, info.me_mapsize + min(info.me_mapsize, 1 << 30)))
            try pinAgain()
        }
    }

    private static func apply(
        _ kind: RedoOperations.Kind, name: String?, flags: UInt32, key: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer, txn: OpaquePointer, databases: inout [String?: MDB_dbi]
    ) throws(LMDBError) {
        let dbi: MDB_dbi
        if let known = databases[name] {
            dbi = known
        } else {
            var opened: MDB_dbi = 0
            let create = kind == .create ? UInt32(MDB_CREATE) | flags : 0
            try check(mdb_dbi_open(txn, name, create, &opened))
            databases[name] = opened
            dbi = opened
        }
        var k = MDB_val(key)
        switch kind {
        case .create:
            break
        case .put:
            var v = MDB_val(value)
            try check(mdb_put(txn, dbi, &k, &v, 0))
        case .delete:
            let rc = mdb_del(txn, dbi, &k, nil)
            if rc != MDB_NOTFOUND { try check(rc) }
        case .clear:
            try check(mdb_drop(txn, dbi, 0))
        }
    }
}

/// Reads all of `bytes.count` bytes at `offset`; `false` when the file ends first or fails.
func readAll(_ descriptor: Int32, into bytes: inout [UInt8], at offset: Int) -> Bool {
    var done = 0
    while done < bytes.count {
        let result = bytes.withUnsafeMutableBytes {
            pread(descriptor, $0.baseAddress! + done, $0.count - done, off_t(offset + done))
        }
        if result < 0 && errno == EINTR { continue }
        if result <= 0 { return false }
        done += result
    }
    return true
}
