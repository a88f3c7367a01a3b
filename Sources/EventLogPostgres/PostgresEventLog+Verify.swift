import EventLog
import Foundation
import PostgresNIO
import Signatures

extension PostgresEventLog {
    /// Recomputes `hash(n) = SHA-256(hash(n-1) || canonical bytes of n)` over the range and
    /// names the first position where it breaks; checks that each row's position and stream
    /// columns are the envelope's. Over the whole log it also checks the head row, so a
    /// cut-off tail, or an event stored past the head, is found too.
    public func verify(from position: UInt64 = 1, through last: UInt64? = nil) throws -> ChainVerification {
        let (recordedHead, lastStored) = try headAndLastStored()
        if last == nil, lastStored > recordedHead.head.position {
            let head = recordedHead.head.position
            return .broken(ChainBreak(position: head + 1, reason: .pastHead(recordedHead: head)))
        }
        return try verify(from: position, through: last, recordedHead: recordedHead.head) { _, _ in nil }
    }

    /// The head row and the last stored position, read in one statement.
    func headAndLastStored() throws -> (PostgresHead, UInt64) {
        try readers.withConnection { connection throws(EventLogError) in
            _ = try connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { _ = try? connection.run("COMMIT") }
            let head = try PostgresHead.read(on: connection)
            let last =
                try connection.run("SELECT coalesce(max(position), 0) FROM authlog.events").first?.column(Int64.self)
                ?? 0
            return (head, UInt64(last))
        }
    }

    /// The chain walk: `visit` sees each position's recomputed hash and may stop the walk
    /// with a break of its own.
    func verify(
        from position: UInt64, through last: UInt64?, recordedHead: LogHead,
        visit: (UInt64, ChainHash) -> ChainBreak?
    ) throws -> ChainVerification {
        var walk: ChainWalk
        switch try ChainWalk.starting(in: self, from: position, through: last, recordedHead: recordedHead) {
        case .walking(let started): walk = started
        case .broken(let broken): return .broken(broken)
        }
        let (start, end) = (walk.start, walk.end)
        var failure: ChainBreak?
        try forEachStored(from: start, through: end) { key, stream, version, stored in
            let checked = stored.withUnsafeReadableBytes { walk.check(key, stored: $0) }
            switch checked {
            case .broken(let broken):
                failure = broken
                return false
            case .linked(let link):
                guard link.stream == stream, link.version == version else {
                    failure = ChainBreak(
                        position: key, reason: .misfiled("the stream columns name it for another stream or version"))
                    return false
                }
                if let broken = visit(key, link.hash) {
                    failure = broken
                    return false
                }
                walk.advance(link)
                return true
            }
        }
        if let failure = failure ?? walk.finish(last: last, recordedHead: recordedHead) { return .broken(failure) }
        return walk.intact
    }
}
