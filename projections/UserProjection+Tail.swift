import AuthDomain
import EventLog
import Foundation
import LMDB

/// A user's row may stand behind the user's stream by a few `RefreshTokenRotated` events: the
/// stream's tail, which every read folds onto the row.
///
/// Rules:
/// - The projector leaves a `RefreshTokenRotated` event out of the row when the row already
///   exists and stands fewer than ``UserProjection/rowLag`` versions behind the event. Every
///   other event is written to the row, after the tail before it has been folded onto the row.
///   So the events of a stream after its row's version and up to the projection's checkpoint
///   are all `RefreshTokenRotated`, and at most ``UserProjection/rowLag`` − 1 of them.
/// - A read answers the fold of the user's stream up to the projection's checkpoint, as before:
///   the row, then the tail up to the checkpoint (``tailTarget(of:after:in:)``,
///   ``foldTail(into:through:in:)``). An event of another kind in that part of the tail is a
///   broken projection, refused as corrupt, never folded around.
/// - The role index and the role counts never lag: a rotation changes neither.
///
/// Why: a rotation changes only its session's token fields, yet writing them rewrote the
/// user's row, a page of the User table a rotation; with the tail folded by reads, a user's
/// row is written once every ``UserProjection/rowLag`` rotations (docs/architecture.md, "The
/// stream's tail").
extension UserProjection {
    /// How many versions a row may stand behind its stream's head through rotations; the
    /// longest tail a read folds is one less.
    static let rowLag: UInt64 = 16

    /// Whether the projector may leave an event of `kind` to the reads' fold.
    static func leavesToReads(_ kind: UserEvent.Kind) -> Bool {
        kind == .refreshTokenRotated
    }

    /// The version of `id`'s stored row in generation `g`, `nil` without one; reads the
    /// version's bytes only.
    func storedVersion(_ id: UUID, generation g: Int, in txn: borrowing Transaction) throws -> UInt64? {
        guard let bytes = try withUnsafeBytes(of: id.uuid, { try txn.get(tables[g].users, key: $0) }) else {
            return nil
        }
        guard bytes.count > 9 else { throw BinaryDecodingError.invalidValue("user row too short") }
        return UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 1, as: UInt64.self))
    }

    /// The version a read of `id` answers, given a row at `version`: the last of the stream's
    /// versions at or before the projection's checkpoint, `version` itself when the stream has
    /// nothing later (a look-up of the stream's head, then the catalog only when it does).
    func tailTarget(of id: UUID, after version: UInt64, in txn: borrowing Transaction) throws -> UInt64 {
        let head = try log.streamHead(of: id, in: txn)
        guard head.version > version, let checkpoint = try entry(in: txn)?.checkpoint else { return version }
        if head.position <= checkpoint { return head.version }
        // Part of the tail was appended by a writer without the projector: not folded yet.
        var target = version
        try log.forEachEnvelope(inStream: id, from: version + 1, in: txn) { view in
            guard view.position <= checkpoint else { return false }
            target = view.streamVersion
            return true
        }
        return target
    }

    /// The answer at version `target` from the decoded-row cache, for a row at `version`: the
    /// entry when it is at `target`; an entry between the row and `target` folded forward
    /// from where it stands (and stored); `nil` when the cache holds neither. Exact: an entry
    /// at a version is the fold of the stream up to it, and the events after it through
    /// `target` are the tail's.
    func cachedAnswer(
        _ id: UUID, row version: UInt64, target: UInt64, stamp: SnapshotStamp?, in txn: borrowing Transaction
    ) throws -> UserState? {
        if let cached = decoded.state(id, version: target, checkedAt: stamp) { return cached }
        guard target > version, var base = decoded.entry(id, versions: version...(target - 1), checkedAt: stamp)
        else { return nil }
        try foldTail(into: &base.state, through: target, in: txn)
        decoded.store(base.state, sealedPersonal: base.sealedPersonal, checkedAt: stamp)
        return base.state
    }

    /// Folds onto `state` (the fold of its stream at `state.version`) the stream's events
    /// after it through version `target`, each of which must be one the projector leaves to
    /// reads (``leavesToReads(_:)``). On a throw, `state` is left part-folded.
    func foldTail(into state: inout UserState, through target: UInt64, in txn: borrowing Transaction) throws {
        guard target > state.version else { return }
        let id = state.id
        try log.forEachEnvelope(inStream: id, from: state.version + 1, in: txn) { view in
            guard view.streamVersion <= target else { return false }
            let event = try sealing.decode(view)
            guard Self.leavesToReads(event.kind) else {
                throw EventLogError.corrupt(
                    position: view.position,
                    detail: "the users projection left an event of kind \(event.kind.name) out of the row of \(id)")
            }
            state.apply(event, at: view.recordedAt)
            return true
        }
        guard state.version == target else {
            throw EventLogError.corrupt(
                position: 0, detail: "the stream of \(id) ends at version \(state.version) before \(target)")
        }
    }
}
