import EventLog
import Foundation
import PostgresNIO

extension PostgresEventLog {
    /// Takes uniqueness claims without appending: a restore's claims, derived from the users
    /// it imported (the claims are not part of an export). Each `.claim` entry goes to its
    /// stream; a `.release` entry is refused.
    ///
    /// One transaction, under the head lock, so appends wait for it. All or nothing: a key two
    /// of the given streams claim, or one another stream already holds, is refused with
    /// ``EventLogError/uniqueViolation(scope:)`` and nothing is written. A key its stream holds
    /// already is left as it is.
    public func restoreClaims(_ claims: [(stream: UUID, claim: UniqueClaim)]) throws {
        try restoring { try $0.restoreClaims(claims) }
    }
}

extension PostgresRestore {
    /// ``PostgresEventLog/restoreClaims(_:)`` in the transaction open on `connection`.
    static func restoreClaims(_ claims: [(stream: UUID, claim: UniqueClaim)], on connection: PostgresConnection) throws
    {
        var holders: [ClaimKey: UUID] = [:]
        for (stream, claim) in claims {
            guard claim.action == .claim else {
                throw EventLogError.invalidEvent("a restored claim takes a key; it gives none up")
            }
            let key = ClaimKey(claim)
            if let holder = holders[key], holder != stream { throw EventLogError.uniqueViolation(scope: claim.scope) }
            holders[key] = stream
        }
        guard !holders.isEmpty else { return }
        var scopes: [String] = []
        var keys: [ByteBuffer] = []
        var streams: [UUID] = []
        for (key, stream) in holders {
            scopes.append(key.scope)
            keys.append(ByteBuffer(bytes: key.key))
            streams.append(stream)
        }
        let clash = try connection.run(
            """
            SELECT c.scope FROM authlog.claims c
            JOIN unnest(\(scopes)::text[], \(keys)::bytea[], \(streams)::uuid[]) AS r(scope, key, stream_id)
              ON c.scope = r.scope AND c.key = r.key AND c.stream_id <> r.stream_id
            LIMIT 1
            """)
        if let scope = try clash.first?.column(String.self) {
            throw EventLogError.uniqueViolation(scope: scope)
        }
        _ = try connection.run(
            """
            INSERT INTO authlog.claims (scope, key, stream_id)
            SELECT * FROM unnest(\(scopes)::text[], \(keys)::bytea[], \(streams)::uuid[])
            ON CONFLICT (scope, key) DO NOTHING
            """)
    }
}
