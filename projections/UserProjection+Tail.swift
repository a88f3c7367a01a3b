import AuthDomain
import EventLog
import Foundation
import LMDB

/// A user's row may stand behind the user's stream by a few `RefreshTokenRotated` events: the
/// stream's tail, which every read folds onto the row.
///
/// Rules:
/// - The projector leaves a `RefreshTokenRotated` event out of the row when the row already
///   exists and stands fewer than ``UserProjection/rowLag`` versions behind the event, and the
///   event's version is not the row's turn (``UserProjection/isRowsTurn(_:version:)``). Every
///   other event is written to the row, after the tail before it has been folded onto the row.
///   So the events of a stream after its row's version and up to the projection's checkpoint
///   are all `RefreshTokenRotated`, and at most ``UserProjection/rowLag`` − 1 of them.
/// - A read answers the fold of the user's stream up to the projection's checkpoint, as before:
///   the row, then the tail up to the checkpoint (``tailEnd(of:after:in:)``,
///   ``foldTail(into:through:in:)``). A row behind by more, or by another kind of event, was
///   not written by the projector (by hand, or rolled back): a read answers the fold of the
///   whole stream instead, and the projector writes that fold to the row (its personal part
///   sealed anew, the role index moved from the fold's key) the next time it writes the row:
///   at the user's next event of another kind, a rotation at the row's turn, or one 16
///   versions after the row. Until then every read of the user folds the whole stream.
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

    /// Whether the rotation at `version` of `id`'s stream is written to the row whatever the
    /// row's lag: one version in ``rowLag``, at a phase taken from the id's last byte (random in
    /// random and time-ordered ids alike). Users who rotate at the same pace, as a benchmark's
    /// do, then have their rows written at different commits, not all in the same few.
    static func isRowsTurn(_ id: UUID, version: UInt64) -> Bool {
        version % rowLag == UInt64(id.uuid.15) % rowLag
    }

    /// Whether the projector may leave an event of `kind` to the reads' fold.
    static func leavesToReads(_ kind: UserEvent.Kind) -> Bool {
        kind == .refreshTokenRotated
    }

    /// The version of `id`'s stored row in generation `g`, `nil` without one; reads the
    /// version's bytes only.
    func storedVersion(_ id: UUID, generation g: Int, in txn: borrowing Transaction) throws -> UInt64? {
        guard let bytes = try storedRow(id, generation: g, in: txn) else {
            return nil
        }
        return try UserRow.version(of: bytes)
    }

    /// The last event a read of `id` answers, given a row at `version`: the stream's last
    /// event at or before the projection's checkpoint, or the row's own version (position 0)
    /// when the stream has nothing later (a look-up of the stream's head, then the catalog
    /// only when it does).
    func tailEnd(of id: UUID, after version: UInt64, in txn: borrowing Transaction) throws -> TailEnd {
        let head = try log.streamHead(of: id, in: txn)
        guard head.version > version, let checkpoint = try entry(in: txn)?.checkpoint else {
            return TailEnd(version: version, position: 0)
        }
        if head.position <= checkpoint { return TailEnd(version: head.version, position: head.position) }
        // Part of the tail was appended by a writer without the projector: not folded yet.
        var end = TailEnd(version: version, position: 0)
        try log.forEachEnvelope(inStream: id, from: version + 1, in: txn) { view in
            guard view.position <= checkpoint else { return false }
            end = TailEnd(version: view.streamVersion, position: view.position)
            return true
        }
        return end
    }

    /// The answer at `end` from the decoded-row cache, for a row at `version`: the entry when
    /// it is at `end`'s version; an entry between the row and `end` folded forward from where
    /// it stands (and stored); `nil` when the cache holds neither. Exact: an entry at a
    /// version is the fold of the stream up to it, and the events after it through `end` are
    /// the tail's.
    func cachedAnswer(
        _ id: UUID, row version: UInt64, end: TailEnd, stamp: SnapshotStamp?, in txn: borrowing Transaction
    ) throws -> UserState? {
        if let cached = decoded.state(id, version: end.version, checkedAt: stamp) { return cached }
        guard end.version > version,
            var base = decoded.entry(id, versions: version...(end.version - 1), checkedAt: stamp)
        else { return nil }
        let refolded = try foldTail(into: &base.state, through: end, in: txn)
        decoded.store(base.state, sealedPersonal: refolded ? [] : base.sealedPersonal, checkedAt: stamp)
        return base.state
    }

    /// Folds onto `state` (the fold of its stream at `state.version`) the stream's events
    /// after it through `end`. When they are not a tail the projector leaves (more than
    /// ``rowLag`` − 1 of them, or one of a kind ``leavesToReads(_:)`` refuses: a row written
    /// by hand, or rolled back), `state` becomes the fold of the whole stream through `end`
    /// instead, and this returns true: its personal fields then come from the events, not
    /// from the sealed part the state was read with.
    @discardableResult
    func foldTail(into state: inout UserState, through end: TailEnd, in txn: borrowing Transaction) throws -> Bool {
        try foldTail(into: &state, through: end.version, walkingFrom: end, in: txn)
    }

    /// ``foldTail(into:through:in:)`` through `version`, the stream's links walked down from
    /// `anchor`, an event of the stream at `version` or later (the projector's event: the
    /// walk then covers the tail alone, not the stream's events up to its head).
    @discardableResult
    func foldTail(
        into state: inout UserState, through version: UInt64, walkingFrom anchor: TailEnd,
        in txn: borrowing Transaction
    ) throws -> Bool {
        guard version > state.version else { return false }
        let id = state.id
        let walk = (version: anchor.version, position: anchor.position)
        /// Folds the stream's events from `first` through `version` onto `target`; false when
        /// `tailOnly` and an event is not one the projector leaves, or when the walk falls short.
        func fold(
            _ target: inout UserState, from first: UInt64, tailOnly: Bool, in txn: borrowing Transaction
        ) throws -> Bool {
            var admitted = true
            try log.forEachEnvelope(inStream: id, from: first, through: walk, in: txn) { view in
                guard view.streamVersion <= version else { return false }
                if tailOnly, UserEvent.Kind(typeBytes: view.typeBytes).map(Self.leavesToReads) != true {
                    admitted = false
                    return false
                }
                target.apply(try sealing.decode(view), at: view.recordedAt)
                return true
            }
            return admitted && target.version == version
        }
        if version - state.version < Self.rowLag, try fold(&state, from: state.version + 1, tailOnly: true, in: txn) {
            return false
        }
        // Not a tail the projector leaves: the reference fold of the stream.
        var folded = UserState(id: id)
        guard try fold(&folded, from: 1, tailOnly: false, in: txn) else {
            throw EventLogError.corrupt(
                position: anchor.position,
                detail: "the stream of \(id) ends at version \(folded.version) before \(version)")
        }
        state = folded
        return true
    }
}

/// The last event of a stream a read answers (``UserProjection/tailEnd(of:after:in:)``): its
/// version and position; position 0 when it is the row's own version.
struct TailEnd: Equatable {
    var version: UInt64
    var position: UInt64
}
