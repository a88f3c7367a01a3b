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

    /// A user without the personal fields: from the decoded-row cache with those fields
    /// blanked when it holds the row, otherwise decoded without opening the sealed part.
    func readPublicUser(_ id: UUID, generation g: Int, in txn: borrowing Transaction) throws -> UserState? {
        if txn.isReadOnly,
            let cached = decoded.state(id, checkedAt: SnapshotStamp(snapshot: txn.snapshotID, generation: g))
        {
            return cached.withoutPersonalFields
        }
        return try row(id, generation: g, in: txn, openPersonal: false)?.state
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
