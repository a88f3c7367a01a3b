import Glibc

/// The journal's files and their byte layouts (see ``Journal`` for the rules they serve).
///
/// In the environment's directory:
/// - `journal.0` and `journal.1`, the two segments, each ``Journal/Options/segmentBytes``
///   long and written full of zeros when made, so that a record written into one never
///   changes the file's length or allocation and its `fdatasync` flushes the data alone;
/// - `journal.checkpoint`, two slots of ``Checkpoint/slotBytes(pageSize:)``, written in turn;
///   the valid slot with the higher number is the checkpoint;
/// - `journal.lock`, empty, for the writers' `flock` (``Journal`` has the rules).
///
/// A record: a header of 32 bytes (magic `ALJR`, the payload's length, the segment's
/// generation, the record's sequence number, each little-endian, then a checksum of the
/// header's first 24 bytes and the payload), then the payload, padded to 8 bytes. A record is
/// valid when its magic, generation and sequence number are the ones expected next and its
/// checksum matches: a torn write, zeros, or an older generation's record left in a reused
/// segment all end the segment there.
enum JournalFormat {
    static let segmentNames = ["journal.0", "journal.1"]
    static let checkpointName = "journal.checkpoint"
    static let lockName = "journal.lock"
    static let recordMagic: UInt32 = 0x524A_4C41  // "ALJR" little-endian
    static let checkpointMagic: UInt32 = 0x434A_4C41  // "ALJC"
    static let headerBytes = 32

    /// Bytes a record of `payload` bytes takes, header and padding included.
    static func recordBytes(payload: Int) -> Int {
        headerBytes + (payload + 7) & ~7
    }

    /// A 64-bit checksum of `bytes`, seeded by `seed`. Not cryptographic: it finds torn,
    /// zeroed and stale records, not forged ones (whoever can write the journal can write
    /// `data.mdb` itself).
    static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> UInt64 {
        var hash = seed ^ UInt64(bytes.count)
        var index = 0
        while index + 8 <= bytes.count {
            hash = mix(hash ^ bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            index += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count {
            tail |= UInt64(bytes[index]) << shift
            shift += 8
            index += 1
        }
        return mix(mix(hash ^ tail) ^ 0xD6E8_FEB8_6659_FD93)
    }

    /// A record's checksum: of its header's first 24 bytes, then of its payload.
    static func recordChecksum(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> UInt64 {
        checksum(payload, seed: checksum(UnsafeRawBufferPointer(rebasing: header[0..<24])))
    }

    @inline(__always)
    private static func mix(_ value: UInt64) -> UInt64 {
        var x = value &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 31
        x = x &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 29)
    }
}

/// A little-endian byte writer for the journal's records and checkpoint.
struct JournalBytes {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ buffer: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: buffer)
    }
}

/// Reads little-endian fields from a buffer, failing (nil) past its end.
struct JournalReader {
    let buffer: UnsafeRawBufferPointer
    var offset = 0

    init(_ buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard offset + MemoryLayout<T>.size <= buffer.count else { return nil }
        defer { offset += MemoryLayout<T>.size }
        return T(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, offset + count <= buffer.count else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + count])
    }
}

/// Where the journal stood when `data.mdb` was last known to be on disk: the records up to
/// ``lastSequence`` are in that state, the next one is at ``offset`` of segment
/// ``segment`` with generation ``generation``, and ``metaPages`` are the data file's first
/// two pages (LMDB's meta pages) as they were then.
struct Checkpoint: Equatable {
    /// Counts checkpoints; the valid slot with the higher number wins.
    var number: UInt64
    var lastSequence: UInt64
    var segment: Int
    var generation: UInt64
    var offset: Int
    /// Written at a clean close: nothing after ``lastSequence``, and `data.mdb` synced.
    var clean: Bool
    /// The kernel's boot id when written (`/proc/sys/kernel/random/boot_id`).
    var bootID: String
    /// `data.mdb`'s device and inode, so that a journal is never applied to another file.
    var device: UInt64
    var inode: UInt64
    var metaPages: [UInt8]

    static func slotBytes(pageSize: Int) -> Int { 4096 + 2 * pageSize }

    /// The valid slot with the higher number in `file` (`journal.checkpoint`'s bytes).
    static func latest(in file: UnsafeRawBufferPointer) -> Checkpoint? {
        let half = file.count / 2
        let slots = [
            Checkpoint(slot: UnsafeRawBufferPointer(rebasing: file[0..<half])),
            Checkpoint(slot: UnsafeRawBufferPointer(rebasing: file[half...])),
        ]
        return slots.compactMap { $0 }.max { $0.number < $1.number }
    }

    func encoded(pageSize: Int) -> [UInt8] {
        var out = JournalBytes()
        out.append(JournalFormat.checkpointMagic)
        out.append(UInt32(1))  // format version
        out.append(number)
        out.append(lastSequence)
        out.append(UInt32(segment))
        out.append(UInt32(clean ? 1 : 0))
        out.append(generation)
        out.append(UInt64(offset))
        out.append(device)
        out.append(inode)
        let boot = Array(bootID.utf8.prefix(64))
        out.append(UInt32(boot.count))
        boot.withUnsafeBytes { out.append($0) }
        out.append(UInt32(metaPages.count))
        metaPages.withUnsafeBytes { out.append($0) }
        let sum = out.bytes.withUnsafeBytes { JournalFormat.checksum($0) }
        out.append(sum)
        precondition(out.bytes.count <= Self.slotBytes(pageSize: pageSize))
        out.bytes += [UInt8](repeating: 0, count: Self.slotBytes(pageSize: pageSize) - out.bytes.count)
        return out.bytes
    }

    /// Decodes a slot; `nil` for one torn, zeroed or not a checkpoint.
    init?(slot: UnsafeRawBufferPointer) {
        var reader = JournalReader(slot)
        guard reader.read(UInt32.self) == JournalFormat.checkpointMagic, reader.read(UInt32.self) == 1,
            let number = reader.read(UInt64.self), let lastSequence = reader.read(UInt64.self),
            let segment = reader.read(UInt32.self), let clean = reader.read(UInt32.self),
            let generation = reader.read(UInt64.self), let offset = reader.read(UInt64.self),
            let device = reader.read(UInt64.self), let inode = reader.read(UInt64.self),
            let bootCount = reader.read(UInt32.self), let boot = reader.bytes(Int(bootCount)),
            let metaCount = reader.read(UInt32.self), let meta = reader.bytes(Int(metaCount))
        else { return nil }
        let covered = reader.offset
        guard let sum = reader.read(UInt64.self),
            sum == JournalFormat.checksum(UnsafeRawBufferPointer(rebasing: slot[0..<covered])),
            segment < 2
        else { return nil }
        self.number = number
        self.lastSequence = lastSequence
        self.segment = Int(segment)
        self.generation = generation
        self.offset = Int(offset)
        self.clean = clean == 1
        self.bootID = String(decoding: boot, as: UTF8.self)
        self.device = device
        self.inode = inode
        self.metaPages = Array(meta)
    }

    init(
        number: UInt64, lastSequence: UInt64, segment: Int, generation: UInt64, offset: Int, clean: Bool,
        bootID: String, device: UInt64, inode: UInt64, metaPages: [UInt8]
    ) {
        self.number = number
        self.lastSequence = lastSequence
        self.segment = segment
        self.generation = generation
        self.offset = offset
        self.clean = clean
        self.bootID = bootID
        self.device = device
        self.inode = inode
        self.metaPages = metaPages
    }
}

/// The operations a write transaction made, in order, as a record's payload. Each is an
/// assignment (a put sets a key's value, a delete removes a key, a clear empties a database,
/// an open creates one), so a record applied to a state that already holds it, or holds it
/// and the records before it, changes nothing: replay may start before the last record a
/// checkpoint holds without harm.
struct RedoOperations {
    enum Kind: UInt8 {
        case put = 1
        case delete = 2
        case clear = 3
        case create = 4
    }

    var payload: [UInt8] = []
    /// Set once the operations outgrew ``limit``: the transaction then commits without a
    /// record, synced and checkpointed at once (``Journal`` has the rules).
    var overflowed = false
    var limit = Int.max

    mutating func reset(limit: Int) {
        payload.removeAll(keepingCapacity: payload.capacity <= 1 << 20)
        overflowed = false
        self.limit = limit
    }

    var isEmpty: Bool { payload.isEmpty && !overflowed }

    mutating func record(
        _ kind: Kind, database name: String?, flags: UInt32 = 0, key: UnsafeRawBufferPointer? = nil,
        value: UnsafeRawBufferPointer? = nil
    ) {
        if overflowed { return }
        let nameBytes = name.map { Array($0.utf8) }
        let size = 1 + 2 + (nameBytes?.count ?? 0) + 4 + 8 + (key?.count ?? 0) + (value?.count ?? 0)
        if payload.count + size > limit {
            overflowed = true
            payload.removeAll()
            return
        }
        payload.append(kind.rawValue)
        withUnsafeBytes(of: UInt16(nameBytes?.count ?? 0xFFFF).littleEndian) { payload.append(contentsOf: $0) }
        if let nameBytes { payload.append(contentsOf: nameBytes) }
        withUnsafeBytes(of: flags.littleEndian) { payload.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(key?.count ?? 0).littleEndian) { payload.append(contentsOf: $0) }
        if let key { payload.append(contentsOf: key) }
        withUnsafeBytes(of: UInt32(value?.count ?? 0).littleEndian) { payload.append(contentsOf: $0) }
        if let value { payload.append(contentsOf: value) }
    }

    /// Calls `body` with each operation of a record's payload; `false` for a payload that
    /// does not parse (never written by this type: the checksum passed).
    static func forEach(
        in payload: UnsafeRawBufferPointer,
        _ body: (Kind, String?, UInt32, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(LMDBError) -> Void
    ) throws(LMDBError) -> Bool {
        var reader = JournalReader(payload)
        while reader.offset < payload.count {
            guard let raw = reader.read(UInt8.self), let kind = Kind(rawValue: raw),
                let nameCount = reader.read(UInt16.self)
            else { return false }
            var name: String?
            if nameCount != 0xFFFF {
                guard let bytes = reader.bytes(Int(nameCount)) else { return false }
                name = String(decoding: bytes, as: UTF8.self)
            }
            guard let flags = reader.read(UInt32.self), let keyCount = reader.read(UInt32.self),
                let key = reader.bytes(Int(keyCount)), let valueCount = reader.read(UInt32.self),
                let value = reader.bytes(Int(valueCount))
            else { return false }
            try body(kind, name, flags, key, value)
        }
        return true
    }
}

/// This boot's id, which tells a restart after a process's end (the system's buffers kept,
/// `data.mdb` as the last commit left it) from one after the system stopped (its buffers lost).
func currentBootID() -> String {
    let descriptor = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return "" }
    defer { close(descriptor) }
    var buffer = [UInt8](repeating: 0, count: 64)
    let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, 64) }
    guard count > 0 else { return "" }
    return String(decoding: buffer[0..<count], as: UTF8.self).trimmingNewline()
}

extension String {
    fileprivate func trimmingNewline() -> String {
        var result = self
        while result.last == "\n" { result.removeLast() }
        return result
    }
}
