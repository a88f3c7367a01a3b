import EventLog
import Foundation

/// Where the log keeps what in its LMDB environment (see docs/data-model.md).
///
/// - `events`: position (u64 big-endian) -> stored envelope (canonical bytes + chain hash).
/// - `heads` (format 2): stream id (16 bytes) -> the stream's version and the position of its
///   last event (u64 big-endian each).
/// - `links` (format 2): position (u64 big-endian) -> the position of the same stream's event
///   before it, 0 for a stream's first (u64 big-endian). Keyed like `events`, so an append
///   writes it where the last commit wrote: a stream's events are found by walking back from
///   its head.
/// - `streams` (format 1 only): stream id (16 bytes) + stream version (u64 big-endian) ->
///   position (u64 big-endian). Its keys put each stream's entries together, so a commit's
///   appends landed on leaves spread over an index that grows with the log. A writer that
///   opens a format-1 log moves it to format 2 first (``LogStorage/moveToHeads(from:events:in:)``); a
///   read-only opening reads it as it is.
/// - `unique`: scope length (u8) + scope + key -> stream id (16 bytes).
/// - `meta`: `format` -> "authlog.eventlog/2"; `head` -> ``LogHead``; `checkpoint` -> the head
///   ``Checkpoint``; `interval` + position (u64 big-endian) -> an interval ``Checkpoint``;
///   `written-in-map` -> "1" for a cluster node's copy, written in a writable map (set when
///   the log is made with the map, or by ``LMDBEventLog/markWrittenInMap()``): LMDB's writers
///   with and without one must not share an environment, so a writer without one refuses it
///   (``EventLogError/writtenInMap(path:)``).
enum LogLayout {
    static let eventsDatabase = "events"
    static let streamsDatabase = "streams"
    static let headsDatabase = "heads"
    static let linksDatabase = "links"
    static let uniqueDatabase = "unique"
    static let metaDatabase = "meta"
    static let formatKey = Array("format".utf8)
    static let headKey = Array("head".utf8)
    static let headCheckpointKey = Array("checkpoint".utf8)
    static let writtenInMapKey = Array("written-in-map".utf8)
    static let intervalCheckpointPrefix = Array("interval".utf8)
    static let formatName = "authlog.eventlog"
    static let formatVersion = 2
    /// The format with a `streams` entry per event instead of `heads` and `links`.
    static let perEventIndexFormat = 1
    static var formatMarker: String { "\(formatName)/\(formatVersion)" }
}

/// Big-endian u64 keys sort in numeric order under LMDB's default byte comparison.
@inline(__always)
func withPositionKey<Result>(_ position: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
    try withUnsafeBytes(of: position.bigEndian, body)
}

@inline(__always)
func decodePosition(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
}

/// Stream id then big-endian version: a stream's entries are adjacent and in version order.
@inline(__always)
func withStreamKey<Result>(
    _ stream: UUID, _ version: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Result
) rethrows -> Result {
    var key = (stream.uuid, version.bigEndian)
    return try withUnsafeBytes(of: &key) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<24])) }
}

/// A `heads` value: the version, then the position of the stream's last event.
extension StreamHead {
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 16 else { return nil }
        self.init(
            version: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            position: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    func withEncoded<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var words = (version.bigEndian, position.bigEndian)
        return try withUnsafeBytes(of: &words, body)
    }
}

/// A stream id as a `heads` key.
@inline(__always)
func withStreamIDKey<Result>(_ stream: UUID, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
    try withUnsafeBytes(of: stream.uuid, body)
}

/// The head record's layout in the meta database: position, hash, recorded-at (48 bytes).
extension LogHead {
    static let encodedSize = 48

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.encodedSize else { return nil }
        self.init(
            position: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            hash: ChainHash(bytes: UnsafeRawBufferPointer(rebasing: bytes[8..<40])),
            recordedAt: Timestamp(
                microsecondsSince1970: Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: 40, as: Int64.self))))
    }

    func withEncoded<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var bytes = [UInt8](repeating: 0, count: Self.encodedSize)
        bytes.withUnsafeMutableBytes { buffer in
            buffer.storeBytes(of: position.bigEndian, toByteOffset: 0, as: UInt64.self)
            hash.store(to: buffer.baseAddress! + 8)
            buffer.storeBytes(of: recordedAt.microsecondsSince1970.bigEndian, toByteOffset: 40, as: Int64.self)
        }
        return try bytes.withUnsafeBytes(body)
    }
}

/// Scope length, scope, key: keys of one scope sit together and cannot collide across scopes.
func withUniqueKey<Result>(
    _ scope: String, _ key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> Result
) rethrows -> Result {
    let encoded = [UInt8(scope.utf8.count)] + Array(scope.utf8) + key
    return try encoded.withUnsafeBytes(body)
}

/// `interval` then the big-endian position: interval checkpoints sort in position order.
func withIntervalCheckpointKey<Result>(
    _ position: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Result
) rethrows -> Result {
    var key = LogLayout.intervalCheckpointPrefix
    withUnsafeBytes(of: position.bigEndian) { key.append(contentsOf: $0) }
    return try key.withUnsafeBytes(body)
}
