import AuthDomain
import AuthService
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import LMDB
import TestSupport
import Testing

@testable import Projections

/// A user's row may stand behind the user's stream by rotations, which every read folds
/// (`UserProjection+Tail`): each read pinned to the reference fold of the stream.
@Suite(.ownThreads) struct TailTests {
    static let password = "password-tail-long"

    func register(_ world: World, _ email: String) async throws -> UUID {
        try await world.service.register(
            .init(email: email, password: Self.password, firstName: "T", lastName: "L"), correlationID: "t"
        ).id
    }

    func storedVersion(_ projection: UserProjection, _ id: UUID) throws -> UInt64? {
        try projection.log.environment.read { txn in
            guard let g = try projection.liveGeneration(in: txn) else { return nil }
            return try projection.storedVersion(id, generation: g, in: txn)
        }
    }

    /// Every read of `id` answers the fold of its stream: the read with personal fields, the
    /// public one, the state source, and a read through a projection object of its own, whose
    /// cache is empty (the row and its tail alone).
    func expectTheFold(_ world: World, _ id: UUID, _ note: String) throws {
        let folded = try FoldedUserStates(log: world.log, keys: world.keys).state(of: id)
        #expect(try world.queries.user(id: id) == folded, "\(note): the read")
        #expect(
            try world.queries.user(id: id, includePersonal: false) == folded.withoutPersonalFields,
            "\(note): the public read")
        #expect(try ProjectedUserStates(world.projection).state(of: id) == folded, "\(note): the state source")
        let own = try UserProjection(log: world.log, keys: world.keys, prepare: false)
        #expect(
            try UserQueries(own).user(id: id, includePersonal: false) == folded.withoutPersonalFields,
            "\(note): the public read without a cached entry")
        #expect(try UserQueries(own).user(id: id) == folded, "\(note): the read without a cached entry")
    }

    /// A row's turn is one version in every ``UserProjection/rowLag`` consecutive ones, at a
    /// phase set by the id's last byte, so users rotating at one pace come due at different
    /// versions; and no run of versions between turns is as long as the lag.
    @Test func aRowsTurnIsOneVersionInEveryRunOfTheLagPhasedByTheId() {
        let lag = UserProjection.rowLag
        var phases = Set<UInt64>()
        for last in UInt8(0)...UInt8(255) {
            let id = UUID(uuid: (0x01, 0x9a, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, last))
            let turns = (1...(4 * lag)).filter { UserProjection.isRowsTurn(id, version: $0) }
            #expect(turns.count == 4, "id ending \(last): \(turns)")
            #expect(zip(turns, turns.dropFirst()).allSatisfy { $1 - $0 == lag }, "id ending \(last): \(turns)")
            if let first = turns.first { phases.insert(first % lag) }
        }
        #expect(phases.count == Int(lag))
    }

    @Test func rotationsLeaveTheRowBehindAndEveryReadFoldsThem() async throws {
        let world = try World()
        defer { world.finish() }
        let id = try await register(world, "tail@example.com")
        let other = try await register(world, "other@example.com")
        var grant = try await world.service.login(
            email: "tail@example.com", password: Self.password, correlationID: "t")
        var behind = 0
        var written = Set<UInt64>()
        for step in 0..<(3 * Int(UserProjection.rowLag)) {
            grant = try await world.service.rotate(refreshToken: grant.refreshToken, correlationID: "t")
            let head = try world.log.currentVersion(of: id)
            let stored = try #require(try storedVersion(world.projection, id))
            #expect(stored <= head && head - stored < UserProjection.rowLag, "rotation \(step): row at \(stored)")
            if stored < head { behind += 1 }
            written.insert(stored)
            try expectTheFold(world, id, "rotation \(step)")
            // Another user's command between rotations moves the snapshot on.
            if step % 5 == 0 {
                try await world.service.updateProfile(
                    of: other, firstName: "N\(step)", lastName: nil, phone: "", actor: .system, correlationID: "t")
            }
        }
        #expect(behind >= 2 * Int(UserProjection.rowLag), "rotations should leave the row behind its stream")
        #expect(written.count >= 3, "the row should still be written once every \(UserProjection.rowLag) versions")

        // Any other event writes the row, with the rotations before it folded in.
        grant = try await world.service.rotate(refreshToken: grant.refreshToken, correlationID: "t")
        try await world.service.updateProfile(
            of: id, firstName: "U", lastName: nil, phone: "+1 555 0100", actor: .system, correlationID: "t")
        #expect(try storedVersion(world.projection, id) == world.log.currentVersion(of: id))
        try expectTheFold(world, id, "after a profile change")

        // The folded session is the one a rotation decides from: the token before the last
        // is refused, the last one rotates.
        let previous = grant.refreshToken
        grant = try await world.service.rotate(refreshToken: grant.refreshToken, correlationID: "t")
        _ = try await world.service.rotate(refreshToken: grant.refreshToken, correlationID: "t")
        await #expect(throws: Rejection.self) {
            _ = try await world.service.rotate(refreshToken: previous, correlationID: "t")
        }
        try expectTheFold(world, id, "after a refused token")

        // Reopened (a catch-up with nothing to do), then rebuilt: the same answers, and a
        // rebuilt row stands at its stream's head.
        try world.reopen()
        try expectTheFold(world, id, "reopened")
        try world.reopen(version: UserProjection.version + 1)
        #expect(try storedVersion(world.projection, id) == world.log.currentVersion(of: id))
        try expectTheFold(world, id, "rebuilt")
    }

    /// A rotation appended by a writer without the projector is past the checkpoint: reads
    /// leave it out until the projection catches up, as they leave out any such event.
    @Test func readsFoldTheTailOnlyUpToTheCheckpoint() async throws {
        let world = try World()
        defer { world.finish() }
        let id = try await register(world, "checkpoint@example.com")
        var token = try await world.service.login(
            email: "checkpoint@example.com", password: Self.password, correlationID: "t"
        ).refreshToken
        // One rotation, or two when the first falls on the row's turn (one version in 16).
        for _ in 0..<2 {
            token = try await world.service.rotate(refreshToken: token, correlationID: "t").refreshToken
            if try storedVersion(world.projection, id) != world.log.currentVersion(of: id) { break }
        }
        let before = try #require(try world.queries.user(id: id))
        #expect(try storedVersion(world.projection, id)! < before.version, "a rotation should be in the tail")
        let session = try #require(before.session)

        world.log.close()
        let bare = try LMDBEventLog(directory: world.directory)
        let rotated = UserEvent.refreshTokenRotated(
            .init(sessionID: session.id, refreshTokenHash: TokenHash(of: Array("another secret".utf8))))
        _ = try await bare.append(
            [rotated.newEvent(actor: .system, correlationID: "bare") { $0 }], to: id, expecting: .any)
        bare.close()
        world.log = try LMDBEventLog(directory: world.directory)
        let behind = try UserProjection(log: world.log, keys: world.keys, prepare: false)
        #expect(try UserQueries(behind).user(id: id) == before, "a read should stop at the checkpoint")
        let answer = try ProjectedUserStates(behind).state(of: id)
        #expect(answer.version == before.version + 1)
        #expect(try answer == FoldedUserStates(log: world.log, keys: world.keys).state(of: id))

        // Caught up on open: the rotation is read.
        world.projection = try UserProjection(log: world.log, keys: world.keys)
        #expect(try world.queries.user(id: id) == answer)
    }

    /// The projector writes every event but a rotation to the row, and a rotation too once the
    /// row is `rowLag` versions behind or at its turn. A row behind its stream by anything else
    /// was not its (written by hand, or rolled back): reads answer the fold of the whole
    /// stream, and the user's next login writes that fold to the row, instead of failing its
    /// batch: the personal part sealed anew (a login touches no personal field, so the row's
    /// own sealed part would otherwise be kept) and the role index moved from the fold's key.
    @Test(arguments: [false, true])
    func aRowTheProjectorDidNotWriteIsReadAsTheFoldAndMended(byRotations: Bool) async throws {
        let world = try World()
        defer { world.finish() }
        let id = try await register(world, "forged@example.com")
        let old = try #require(try world.queries.user(id: id))
        // A role the row written back does not hold, so that the index's move is checked.
        try await world.service.changeRole(of: id, to: .manager, actor: .system, correlationID: "t")
        if byRotations {
            var token = try await world.service.login(
                email: "forged@example.com", password: Self.password, correlationID: "t"
            ).refreshToken
            // More rotations than a row is ever left behind by.
            for _ in 0..<(Int(UserProjection.rowLag) + 4) {
                token = try await world.service.rotate(refreshToken: token, correlationID: "t").refreshToken
            }
        } else {
            try await world.service.updateProfile(
                of: id, firstName: "U", lastName: nil, phone: "+1 555 0101", actor: .system, correlationID: "t")
        }
        // The row as it stood after the registration, written back.
        try world.log.withWriteTransaction { txn in
            let g = try #require(try world.projection.liveGeneration(in: txn))
            try world.projection.putRow(old, sealedPersonal: nil, generation: g, in: txn)
        }
        #expect(try storedVersion(world.projection, id) == old.version)
        try expectTheFold(world, id, "the row written back")

        // The user's next login: the row holds the fold again, personal fields included, and
        // the role index holds the user once, under the fold's role.
        _ = try await world.service.login(email: "forged@example.com", password: Self.password, correlationID: "t")
        #expect(try storedVersion(world.projection, id) == world.log.currentVersion(of: id))
        try expectTheFold(world, id, "after the next login")
        let own = try UserProjection(log: world.log, keys: world.keys, prepare: false)
        let mended = try own.log.environment.read { txn in
            try own.row(id, generation: #require(try own.liveGeneration(in: txn)), in: txn, openPersonal: true)?.state
        }
        #expect(try mended == FoldedUserStates(log: world.log, keys: world.keys).state(of: id))
        #expect(try world.queries.users(role: .manager).users.map(\.id) == [id])
        #expect(try world.queries.users(role: .target).users.isEmpty)
        #expect(try world.queries.count(role: .manager) == 1)
        #expect(try world.queries.count(role: .target) == 0)
    }
}
