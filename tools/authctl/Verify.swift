import ArgumentParser
import EventLog
import EventLogLMDB
import Foundation
import LogExport
import Signatures

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute the hash chain and check its signed checkpoints; exit 1 and name the first bad position.",
        discussion: """
            The signatures are checked with the log's public key, derived from the \
            key-encryption key when it is here, or given with --public-key (printed by \
            `authctl head`): an auditor needs no secret. --since-head FILE also proves that the \
            log still extends a head printed earlier by `authctl head`.

            Exit codes: 0 intact and signed through the head (or an empty log); 1 broken: an \
            event was changed, added, dropped, reordered or cut off, or a signature does not \
            verify; 3 the chain is intact but nothing proves who wrote it: a log written before \
            signing (`authctl sign-head` signs it once checked), or no key to check with.
            --from/--to check the chain over a range only, without signatures. With --log-url, \
            the shared log on PostgreSQL is verified, with the same output and exit codes.

            Example:
              authctl --data ./data verify
              authctl --data ./copy verify --public-key 3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c
              authctl --data ./data verify --since-head kept-head.json --json
              authctl --log-url postgres://authlog@db:5432/authlog verify --public-key KEY --since-head kept-head.json
            """)

    @ParentCommand var root: Authctl
    @Option(help: "First position to check (the chain only).") var from: UInt64?
    @Option(help: "Last position to check (the chain only).") var to: UInt64?
    @Option(help: "The log's public key (hex, or a file holding it), when the key-encryption key is not here.")
    var publicKey: String?
    @Option(help: "A head printed earlier by `authctl head`: prove the log still extends it.")
    var sinceHead: String?
    @Flag(help: "Print one JSON object.") var json = false

    struct Report: Encodable {
        var intact: Bool
        var signed: Bool
        var events: UInt64?
        var through: UInt64?
        var headHash: String?
        var intervalCheckpoints: Int?
        var sinceHead: UInt64?
        var brokenAt: UInt64?
        var reason: String?
        var publicKey: String?
        var keySource: String?

        enum CodingKeys: String, CodingKey {
            case intact, signed, events, through, reason
            case publicKey = "public_key"
            case keySource = "key_source"
            case headHash = "head_hash"
            case intervalCheckpoints = "interval_checkpoints"
            case sinceHead = "since_head"
            case brokenAt = "broken_at"
        }
    }

    func run() throws {
        // A staging directory left by a stopped import whose log is not waiting to move (that
        // case is refused by the open below): nothing in it is needed.
        if root.logURL == nil && LMDBEventLog.hasImportStaging(in: root.data)
            && !LMDBEventLog.hasInterruptedImport(in: root.data)
        {
            printError(
                "authctl: note: \(root.data)/\(LMDBEventLog.importStagingName) is an import's staging: "
                    + "once no import is running, nothing in it is needed: remove it")
        }
        let log = try root.openAudited()
        defer { log.close() }
        if from != nil || to != nil {
            guard sinceHead == nil else {
                printError("authctl: --since-head checks the whole log; leave out --from and --to")
                throw ExitCode(64)
            }
            return try report(try failing { try log.verify(from: from ?? 1, through: to) }.asLogVerification)
        }
        let since = try sinceHead.map(readHead)
        guard let (key, source) = try logPublicKeyAndSource(option: publicKey, root: root) else {
            let chain = try failing { try log.verify(from: 1, through: nil) }
            return try report(chain.asLogVerification, keyMissing: true)
        }
        if let since, let named = since.publicKey, named.lowercased() != hex(key.publicKey) {
            printError("authctl: \(sinceHead ?? ""): that head names another public key than this log's")
            throw ExitCode(1)
        }
        let keyUsed = (publicKey: hex(key.publicKey), source: source)
        if root.logURL == nil && source == ownKEKFile(root.data) && since == nil {
            printError(
                "authctl: note: the key came from \(source), inside the directory being verified; whoever could rewrite the log could have replaced it. Compare the public key with the one you published, or pass --public-key"
            )
        }
        try report(
            try failing { try log.verifySignatures(key: key, since: since?.checkpoint) }, since: since?.position,
            keyUsed: keyUsed)
    }

    func readHead(_ file: String) throws -> CheckpointJSON {
        guard let data = FileManager.default.contents(atPath: file) else {
            printError("authctl: cannot read \(file)")
            throw ExitCode(2)
        }
        guard let head = CheckpointJSON.parse(data), head.checkpoint?.role == .head else {
            printError("authctl: \(file) is not a head printed by authctl head")
            throw ExitCode(64)
        }
        return head
    }

    /// Prints the outcome; `keyMissing` says the signatures could not be checked.
    func report(
        _ outcome: LogVerification, since: UInt64? = nil, keyMissing: Bool = false,
        keyUsed: (publicKey: String, source: String)? = nil
    ) throws {
        switch outcome {
        case .signed(let count, let head, let intervals):
            if json {
                try printJSON(
                    Report(
                        intact: true, signed: true, events: count, through: head.position,
                        headHash: head.hash.description, intervalCheckpoints: intervals, sinceHead: since,
                        publicKey: keyUsed?.publicKey, keySource: keyUsed?.source))
            } else {
                let extending = since.map { "; it extends the head kept at position \($0)" } ?? ""
                print(
                    "intact and signed: \(count) events verified through position \(head.position), head hash \(head.hash), \(intervals) interval checkpoints\(extending)"
                )
                print(
                    "signed \(head.recordedAt), with the log key \(keyUsed?.publicKey ?? "?") (from \(keyUsed?.source ?? "?"))"
                )
            }
        case .unsigned(let count, let through, let head):
            if json {
                try printJSON(
                    Report(
                        intact: true, signed: false, events: count, through: through, headHash: head.description,
                        sinceHead: since))
            } else if count > 0 || from != nil {
                print("intact: \(count) events verified through position \(through), head hash \(head)")
            } else {
                print("empty: the log holds no events")
            }
            guard count > 0 && from == nil else { return }
            if keyMissing {
                printError(
                    "authctl: signatures not checked: no key-encryption key here; pass --public-key (printed by authctl head)"
                )
            } else {
                printError(
                    "authctl: unsigned: the chain is intact, but no signed checkpoint proves who wrote it; anyone who could write the data directory could have rewritten it. Compare it with a head kept elsewhere, then sign it once with authctl sign-head"
                )
            }
            throw ExitCode(3)
        case .broken(let failure):
            if json {
                try printJSON(
                    Report(intact: false, signed: false, brokenAt: failure.position, reason: failure.description))
            }
            printError("authctl: hash chain broken at \(failure)")
            throw ExitCode(1)
        }
    }
}
