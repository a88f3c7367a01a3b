import AuthDomain
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import LMDB

extension LogMirror {
    /// The local database of the claims each stream held when it was last copied:
    /// stream id (16 bytes) -> the claims, each as scope length (u8), scope, key length (u16
    /// big-endian), key. What a stream gives up is found here, since its events may no longer
    /// say it (an erased user's address cannot be read).
    static let claimsDatabase = "mirror-claims"

    /// Copies one batch that the shared log holds after `head`, with its streams' claims and
    /// the projection, in one local transaction.
    func copy(_ batch: [[UInt8]], after head: UInt64) throws {
        var streams = Set<UUID>()
        var erased: [UUID] = []
        var last: RecordedEvent?
        for (offset, stored) in batch.enumerated() {
            try stored.withUnsafeBytes { raw in
                let view = try Envelope.parse(raw)
                guard view.position == head + 1 + UInt64(offset) else {
                    throw stop(
                        .diverged(
                            position: head + 1 + UInt64(offset), detail: "the shared log sent position \(view.position)"
                        ))
                }
                streams.insert(view.streamID)
                if try UserEventSealing.kind(of: view) == .erased { erased.append(view.streamID) }
                if offset == batch.count - 1 { last = view.recorded }
            }
        }
        for user in erased { keys.forget(user) }
        let claims = try shared.claims(of: streams)
        guard let last else { return }
        do {
            try local.withWriteTransaction { txn in
                // Another process copying into the same directory (authctl beside authd) may
                // have copied part of the batch since the head was read.
                let now = try local.headPosition(in: txn)
                let done = now > head ? Int(min(now - head, UInt64(batch.count))) : 0
                guard done < batch.count else { return }
                try local.importStored(Array(batch[done...]), in: txn)
                for stream in streams { try replaceClaims(of: stream, with: claims[stream] ?? [], in: txn) }
                try projection.project(last, in: txn)
            }
        } catch EventLogError.corrupt(let position, let detail) {
            throw stop(.diverged(position: position, detail: detail))
        }
        advance(to: last.position)
    }

    /// Gives up the claims `stream` held at its last copy that it no longer holds, and takes
    /// the ones it holds now.
    func replaceClaims(of stream: UUID, with current: [UniqueClaim], in txn: borrowing Transaction) throws {
        let key = withUnsafeBytes(of: stream.uuid) { Array($0) }
        let before =
            try key.withUnsafeBytes { try txn.get(claimsTable, key: $0) }.map { Self.decodeClaims(Array($0)) } ?? []
        let now = current.map { ClaimKey(scope: $0.scope, key: $0.key) }
        for old in before where !now.contains(old) {
            if try local.owner(of: old.key, in: old.scope, txn: txn) == stream {
                try local.releaseClaim(old.key, in: old.scope, txn: txn)
            }
        }
        for claim in now { try local.claim(claim.key, in: claim.scope, for: stream, txn: txn) }
        try key.withUnsafeBytes { keyBytes in
            if now.isEmpty {
                _ = try txn.delete(claimsTable, key: keyBytes)
            } else {
                try Self.encodeClaims(now).withUnsafeBytes { try txn.put(claimsTable, key: keyBytes, value: $0) }
            }
        }
    }

    struct ClaimKey: Equatable {
        var scope: String
        var key: [UInt8]
    }

    static func encodeClaims(_ claims: [ClaimKey]) -> [UInt8] {
        var bytes: [UInt8] = []
        for claim in claims {
            let scope = Array(claim.scope.utf8)
            bytes.append(UInt8(scope.count))
            bytes += scope
            bytes += [UInt8(claim.key.count >> 8), UInt8(claim.key.count & 0xff)]
            bytes += claim.key
        }
        return bytes
    }

    static func decodeClaims(_ bytes: [UInt8]) -> [ClaimKey] {
        var claims: [ClaimKey] = []
        var index = 0
        while index < bytes.count {
            let scopeLength = Int(bytes[index])
            index += 1
            guard index + scopeLength + 2 <= bytes.count else { break }
            let scope = String(decoding: bytes[index..<index + scopeLength], as: UTF8.self)
            index += scopeLength
            let keyLength = Int(bytes[index]) << 8 | Int(bytes[index + 1])
            index += 2
            guard index + keyLength <= bytes.count else { break }
            claims.append(ClaimKey(scope: scope, key: Array(bytes[index..<index + keyLength])))
            index += keyLength
        }
        return claims
    }
}
