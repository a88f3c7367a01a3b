import ArgumentParser
import AuthDomain
import DataProtection
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import LogExport
import Projections

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore an export into an empty data directory, checking the hash chain as it goes.",
        discussion: """
            Needs the key-encryption key the export's data keys were wrapped with (AUTHLOG_KEK, \
            AUTHLOG_KEK_FILE, or DATA/kek copied from the source): its log key must have signed \
            the export's checkpoints, and a signed head must cover the last event. Every line is \
            checked (each field, the hash chain, each payload against its event type, each \
            signature); a broken, forged, cut, foreign or readable export is refused with its \
            line number. An export from a release before signing (authlog-export/1) is imported \
            only with --allow-unsigned; its head is then signed. All or nothing: the log, the data \
            keys and the projections are built in DATA/import.partial and moved into place only \
            once everything checked out; a refused import leaves the directory as it was. \
            Stop authd on the directory first.

            With --log-url, into an empty shared log: the export is checked whole in a \
            temporary directory first, then its data keys, events, checkpoints and the live \
            users' claims go to the shared log (a non-empty one is refused).

            Example:
              AUTHLOG_KEK_FILE=/secure/kek authctl --data ./restored import backup.jsonl
              AUTHLOG_KEK_FILE=/secure/kek authctl --log-url postgres://authlog@db:5432/authlog import backup.jsonl
            """)

    @ParentCommand var root: Authctl
    @Argument(help: "The export file, or - for stdin.") var file: String
    @Flag(help: "Import an export without signed checkpoints (format authlog-export/1, from a release before signing).")
    var allowUnsigned = false
    @Flag(
        help:
            "Import users who have events but no data key line (their personal fields read back empty): an export taken while an erase or a failed registration was under way."
    )
    var allowMissingKeys = false

    func run() throws {
        guard let input = file == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: file) else {
            printError("authctl: cannot read \(file)")
            throw ExitCode(2)
        }
        if let url = root.logURL { return try importShared(url, from: input) }
        try checkDataDirectory(root.data, readOnly: false)
        try finishInterruptedImport(root.data)
        try refuseUnlessEmpty(root.data)
        let (kek, kekSource) = try failing {
            try KeyEncryptionKey.load(
                dataDirectory: root.data, environment: ProcessInfo.processInfo.environment, mayGenerate: false)
        }
        let staging = try failing { try makeStaging(in: root.data) }
        let summary: Summary
        do {
            summary = try restore(from: input, into: staging, kek: kek, kekSource: kekSource)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            // A failure with no line to name (a full disk, say) is one line and exit 2 too.
            if error is ExitCode { throw error }
            printError("authctl: \(root.data): nothing was imported: \(error)")
            throw ExitCode(2)
        }
        try failing { try install(staging, into: root.data) }
        print(
            "imported \(summary.events) events and \(summary.dataKeys) data keys; chain verified, head hash "
                + "\(summary.head), \(summary.proof); \(summary.users) users indexed")
    }

    struct Summary {
        var events: UInt64
        var dataKeys: Int
        var head: ChainHash
        /// What the signatures proved.
        var proof: String
        var users: Int
    }

    /// Reads the export into a new log and key store in `staging`: header, data keys, events
    /// (each checked, see ``EventLine``) and their signed checkpoints (``ImportCheckpoints``),
    /// then the projections, the uniqueness index and a full verification. Throws (exit 2, one line naming the line number) at the first fault.
    func restore(from input: FileHandle, into staging: String, kek: KeyEncryptionKey, kekSource: String) throws
        -> Summary
    {
        let log = try failing { try LMDBEventLog(directory: staging) }
        defer { log.close() }
        let keys = try failing { try KeyStore(file: staging + "/keys", kek: kek, keySource: kekSource) }
        let sealing = UserEventSealing(keys: keys)
        var lines = LineReader(input)
        var number = 0
        func refuse(_ reason: String) -> ExitCode {
            printError("authctl: \(file), line \(number): \(reason)")
            return ExitCode(2)
        }
        number += 1
        guard let first = try? lines.next(),
            let header = try? JSONSerialization.jsonObject(with: Data(first)) as? [String: Any],
            header["kind"] as? String == "header",
            let format = header["format"] as? String, [ExportFormat.name, ExportFormat.unsigned].contains(format)
        else { throw refuse("not an Authlog export (expected a header line with format \(ExportFormat.name))") }
        guard format == ExportFormat.name || allowUnsigned else {
            throw refuse(
                "an export without signed checkpoints (\(format)) proves nothing about who wrote it; after checking it, import it with --allow-unsigned"
            )
        }
        guard header["readable"] as? Bool != true else { throw refuse("a --readable export cannot be imported") }
        guard (header["from"] as? NSNumber)?.intValue == 1 else {
            throw refuse("a partial export (not from position 1) cannot be imported")
        }
        guard header["key_check"] as? String == hex(keys.keyCheck) else {
            throw refuse(
                "the export's data keys were wrapped with another key-encryption key; set AUTHLOG_KEK or AUTHLOG_KEK_FILE to it"
            )
        }
        // A store whose key-encryption key was rotated holds the log's signing key itself.
        if let text = header["log_signing_key"] as? String {
            guard let slot = unhex(text) else { throw refuse("log_signing_key is not hex") }
            do { try keys.adoptLogSigningSlot(slot) } catch { throw refuse("the log's signing key: \(error)") }
        }
        var signatures = format == ExportFormat.name ? keys.logSigningKey.map { ImportCheckpoints(key: $0) } : nil
        var verified: [Checkpoint] = []
        var slots: [[UInt8]] = []
        // The line of each data key, and the users the log erases: an erased user's key never
        // comes back from an older backup's line (the key lines are not signed).
        var keyLineOf: [UUID: Int] = [:]
        var erased: Set<UUID> = []
        // The line of each stream's first event: every user the log does not erase needs a
        // data key, and every data key a user.
        var firstLineOf: [UUID: Int] = [:]
        var batch: [[UInt8]] = []
        var lineOf: [UInt64: Int] = [:]
        var events: UInt64 = 0
        func importSlots() throws {
            guard !slots.isEmpty else { return }
            do { try keys.importSlots(slots) } catch { throw refuse("a data key cannot be stored: \(error)") }
            slots = []
        }
        func flushEvents() throws {
            do {
                try log.importStored(batch, checkpoints: verified)
            } catch EventLogError.corrupt(let position, let detail) {
                number = lineOf[position] ?? number
                throw refuse("position \(position): \(detail)")
            }
            events += UInt64(batch.count)
            batch.removeAll(keepingCapacity: true)
            lineOf.removeAll(keepingCapacity: true)
            verified.removeAll()
        }
        while true {
            number += 1
            let line: [UInt8]
            do {
                guard let next = try lines.next() else { break }
                line = next
            } catch { throw refuse("\(error)") }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw refuse("not a JSON object")
            }
            switch object["kind"] as? String {
            case "data_key":
                guard batch.isEmpty, events == 0 else { throw refuse("a data key after the events") }
                do { slots.append(try DataKeyLine(line).slot) } catch { throw refuse("\(error)") }
                keyLineOf[slots[slots.count - 1].withUnsafeBytes { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }] =
                    number
            case "event":
                try importSlots()
                let position = events + UInt64(batch.count) + 1
                let event: EventLine
                do {
                    event = try EventLine(line, expectedPosition: position)
                    try event.checkPayload(with: sealing)
                } catch { throw refuse("\(error)") }
                let stored = event.stored
                lineOf[position] = number
                // The type and stream the stored bytes hold, read by the parser that made them:
                // a line may repeat a field, and another parser could read its other value.
                if let stream = UUID(text: event.stream) {
                    if firstLineOf[stream] == nil { firstLineOf[stream] = number }
                    if event.type == UserEvent.Kind.erased.name.description { erased.insert(stream) }
                }
                signatures?.event(
                    position: position,
                    hash: ChainHash(bytes: stored.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0.suffix(32)) }),
                    line: number)
                batch.append(stored)
                if batch.count == 10_000 { try flushEvents() }
            case "checkpoint" where signatures != nil:
                guard let checkpoint = CheckpointJSON.parse(line) else {
                    throw refuse("a checkpoint line with a missing or malformed field")
                }
                if let reason = signatures?.checkpoint(checkpoint) {
                    number = signatures?.refusedLine ?? number
                    throw refuse(reason)
                }
                if let checkpoint = checkpoint.checkpoint { verified.append(checkpoint) }
            default:
                throw refuse("unknown line kind")
            }
        }
        if let signatures, signatures.lastEvent != nil,
            let unsigned = signatures.firstUnsignedLine ?? (signatures.endsWithHead ? nil : number)
        {
            number = unsigned
            throw refuse(
                "no signed head covers the events from here on (signed through position \(signatures.signedThrough)): they cannot be told from forged ones"
            )
        }
        if let (user, line) = keyLineOf.filter({ erased.contains($0.key) }).min(by: { $0.value < $1.value }) {
            number = line
            throw refuse(
                "a data key for user \(user.uuidString.lowercased()), whom the log erases: an erased user's key is never restored"
            )
        }
        // The key lines are not signed: one left out would leave its user's personal fields
        // unreadable (their email and password gone, their address free for anyone to
        // register) with no event saying so. An export taken while an erase or a registration
        // whose outcome was unknown was under way can lack one too: --allow-missing-keys.
        if !allowMissingKeys,
            let (user, line) = firstLineOf.filter({ !erased.contains($0.key) && keyLineOf[$0.key] == nil })
                .min(by: { $0.value < $1.value })
        {
            number = line
            throw refuse(
                "user \(user.uuidString.lowercased()) has events but no data key line: their personal fields could not be read (an export taken while they were being erased: --allow-missing-keys)"
            )
        }
        try importSlots()
        // A key for a user with no events opens nothing: a registration under way when the
        // export read the log's head (its key is made before its events). It is not kept.
        for (user, line) in keyLineOf.filter({ firstLineOf[$0.key] == nil }).sorted(by: { $0.value < $1.value }) {
            do { _ = try keys.destroyDataKey(for: user) } catch {
                throw refuse("a data key cannot be left out: \(error)")
            }
            printError(
                "authctl: \(file), line \(line): left out the data key of user \(user.uuidString.lowercased()), who has no events in the export"
            )
        }
        try flushEvents()
        if signatures == nil { try startSigning(log, keys: keys, adoptUnsigned: true) }
        let projection = try failing { try UserProjection(log: log, keys: keys) }
        let claimed = try failing { try restoreClaims(log: log, queries: UserQueries(projection)) }
        guard case .intact(let count, _, let head) = try failing({ try log.verify() }) else {
            printError("authctl: the imported log does not verify")
            throw ExitCode(1)
        }
        let keyCount = try failing { try keys.users().count }
        let proof =
            signatures.map { "\($0.count) signed checkpoints verified" }
            ?? "the export was unsigned; its head is now signed"
        return Summary(events: count, dataKeys: keyCount, head: head, proof: proof, users: claimed)
    }

    /// Claims every live user's email and Stripe id again (the uniqueness index is not exported).
    func restoreClaims(log: LMDBEventLog, queries: UserQueries) throws -> Int {
        let users = try allUsers(queries)
        try log.withWriteTransaction { txn in
            for user in users where !user.isErased {
                if user.holdsEmailClaim, let email = try? EmailAddress(user.email) {
                    try log.claim(email.claimKey, in: EmailAddress.claimScope, for: user.id, txn: txn)
                }
                if let customer = user.stripeCustomerID {
                    try log.claim(
                        LinkStripeCustomer.claimKey(customer), in: LinkStripeCustomer.claimScope, for: user.id, txn: txn
                    )
                }
            }
        }
        return users.count
    }
}

/// Lines of a file, read in 1 MiB chunks; a line longer than ``maximumLength`` is an error,
/// found once that much of it is read (a file that never ends its line holds no more than that
/// in memory).
struct LineReader {
    let handle: FileHandle
    var buffer: [UInt8] = []
    var start = 0
    /// Where the search for the next newline goes on: the bytes before it have none.
    var searched = 0
    var done = false

    /// Far above the longest line an export writes: an event's payload is at most 64 KiB
    /// (``NewEvent/maximumPayloadSize``), a third more in base64, beside a few short fields.
    static let maximumLength = 1 << 20

    struct TooLong: Error, CustomStringConvertible {
        var description: String { "a line longer than \(LineReader.maximumLength) bytes: not an export's" }
    }

    init(_ handle: FileHandle) {
        self.handle = handle
    }

    mutating func next() throws(TooLong) -> [UInt8]? {
        while true {
            if let newline = buffer[max(start, searched)...].firstIndex(of: UInt8(ascii: "\n")) {
                defer {
                    start = newline + 1
                    searched = start
                }
                guard newline - start <= Self.maximumLength else { throw TooLong() }
                return Array(buffer[start..<newline])
            }
            searched = buffer.count
            guard buffer.count - start <= Self.maximumLength else { throw TooLong() }
            if done {
                guard start < buffer.count else { return nil }
                defer { start = buffer.count }
                return Array(buffer[start...])
            }
            buffer.removeFirst(start)
            searched -= start
            start = 0
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { done = true } else { buffer.append(contentsOf: chunk) }
        }
    }
}
