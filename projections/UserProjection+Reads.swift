import AuthDomain
import Foundation
import LMDB

extension UserProjection {
    /// The projection's key in the catalog, made once rather than on every read.
    static let catalogKey = Array(name.utf8)

    /// The live generation in `txn`'s snapshot, or `nil` before the first build. A read
    /// transaction in the snapshot already seen skips the catalog (see ``LiveGenerationMemo``).
    func liveGeneration(in txn: borrowing Transaction) throws -> Int? {
        guard txn.isReadOnly else { return try entry(in: txn)?.generation }
        let snapshot = txn.snapshotID
        if let generation = decoded.generations.generation(atSnapshot: snapshot) { return generation }
        guard let entry = try entry(in: txn) else { return nil }
        decoded.generations.remember(entry.generation, atSnapshot: snapshot)
        return entry.generation
    }

    /// A user without the personal fields: the row and its tail (`UserProjection+Tail`), from
    /// the decoded-row cache with those fields blanked when it can answer (as for
    /// ``readUser(_:generation:in:)``), otherwise the row decoded without opening its sealed
    /// part.
    func readPublicUser(_ id: UUID, generation g: Int, in txn: borrowing Transaction) throws -> UserState? {
        let stamp = txn.isReadOnly ? SnapshotStamp(snapshot: txn.snapshotID, generation: g) : nil
        if let stamp, let cached = decoded.state(id, checkedAt: stamp) { return cached.withoutPersonalFields }
        // The row is looked up once: its version first, decoded only if the cache cannot answer.
        guard let bytes = try storedRow(id, generation: g, in: txn) else {
            return nil
        }
        let version = try UserRow.version(of: bytes)
        let end = try tailEnd(of: id, after: version, in: txn)
        if let cached = try cachedAnswer(id, row: version, end: end, stamp: stamp, in: txn) {
            return cached.withoutPersonalFields
        }
        var state = try UserRow.decode(bytes, id: id) { _ in nil }.state
        // A stream refolded whole opens its personal fields: blanked again.
        if try foldTail(into: &state, through: end, in: txn) { state.clearPersonalFields() }
        return state
    }
}

extension UserState {
    /// What a row decodes to when its sealed part is left closed (see `UserRow.decode`).
    var withoutPersonalFields: UserState {
        var state = self
        state.clearPersonalFields()
        return state
    }
}
