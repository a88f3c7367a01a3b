import EventLog
import EventLogLMDB
import LogExport
import Signatures

/// The signed checkpoints an export carries: each interval checkpoint in its range right
/// after the event it signs, and the head checkpoint after the last event when the export
/// reaches the head. An import checks each against the events before it; an export whose
/// last events follow no checkpoint (`--to` short of the head) cannot be imported as signed.
struct ExportCheckpoints {
    private var pending: [Checkpoint]

    /// `head` is the head checkpoint read with the head itself.
    init(log: any ExportedLog, head: Checkpoint?, from: UInt64, through last: UInt64) throws {
        pending = try log.intervalCheckpoints(from: from, through: last)
        if let head, head.position == last, last >= from { pending.append(head) }
    }

    /// The checkpoint lines that follow the event at `position`.
    mutating func line(after position: UInt64) -> String? {
        var lines: [String] = []
        while let next = pending.first, next.position <= position {
            pending.removeFirst()
            if next.position == position { lines.append(CheckpointJSON(next, publicKey: nil).line) }
        }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }
}

/// What an import checks of an export's checkpoints: each signed by this log's key and naming
/// the hash of the event line right before it, and the last event covered by a head.
struct ImportCheckpoints {
    let key: Ed25519Key
    /// The last event line read: its position, hash and line number.
    private(set) var lastEvent: (position: UInt64, hash: ChainHash, line: Int)?
    /// The first event line after the last checkpoint, while one is unsigned.
    private(set) var firstUnsignedLine: Int?
    /// The line a refusal names: the first event a bad checkpoint leaves unproven.
    private(set) var refusedLine: Int?
    private(set) var signedThrough: UInt64 = 0
    private(set) var endsWithHead = false
    private(set) var count = 0

    init(key: Ed25519Key) {
        self.key = key
    }

    mutating func event(position: UInt64, hash: ChainHash, line: Int) {
        lastEvent = (position, hash, line)
        if firstUnsignedLine == nil { firstUnsignedLine = line }
        endsWithHead = false
    }

    /// Checks a checkpoint line; the reason it is refused otherwise.
    mutating func checkpoint(_ object: CheckpointJSON) -> String? {
        guard let checkpoint = object.checkpoint else { return "a checkpoint line with a missing or malformed field" }
        guard checkpoint.isSigned(by: key) else {
            return
                "the checkpoint at position \(checkpoint.position) is not signed by this key-encryption key's log key"
        }
        guard let last = lastEvent, last.position == checkpoint.position else {
            return "the checkpoint at position \(checkpoint.position) does not follow the event it signs"
        }
        guard last.hash == checkpoint.hash else {
            refusedLine = firstUnsignedLine
            return
                "an event from here through position \(checkpoint.position) differs from what was signed there (the checkpoint's line is \(last.line + 1))"
        }
        firstUnsignedLine = nil
        signedThrough = checkpoint.position
        endsWithHead = checkpoint.role == .head
        count += 1
        return nil
    }
}
