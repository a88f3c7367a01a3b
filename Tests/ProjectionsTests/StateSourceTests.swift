import AuthDomain
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import TestSupport
import Testing

@testable import Projections

/// The projection-backed source of users' states is a fast path: pinned to the reference
/// fold of each stream over the same log.
@Suite(.ownThreads) struct StateSourceTests {
    func expectSameAnswers(_ world: World, _ note: String) throws {
        let projected = ProjectedUserStates(world.projection)
        let folded = FoldedUserStates(log: world.log, keys: world.keys)
        let ids = try world.streamIDs()
        #expect(ids.count > 10)
        for id in ids + [UUID()] {
            let fast = try projected.state(of: id)
            let slow = try folded.state(of: id)
            #expect(fast == slow, "\(note): user \(id) differs from the fold of its stream")
            // A soft-deleted user whose address was never verified released it.
            if let email = try? EmailAddress(slow.email) {
                let owner = try folded.owner(ofEmail: email)
                #expect(slow.holdsEmailClaim ? owner == id : owner != id, "\(note): the claim on \(id)'s address")
            }
        }
    }

    @Test(arguments: [UInt64(21), 22])
    func theProjectedSourceAnswersWhatTheFoldAnswers(seed: UInt64) async throws {
        let world = try World()
        defer { world.finish() }
        try await ProjectionTests().randomHistory(world, seed: seed, steps: 120)
        try expectSameAnswers(world, "current")
    }

    @Test func aRowBehindItsStreamIsNotTheAnswer() async throws {
        let world = try World()
        defer { world.finish() }
        try await ProjectionTests().randomHistory(world, seed: 23, steps: 60)
        let someone = try #require(try world.streamIDs().first)
        let before = try ProjectedUserStates(world.projection).state(of: someone)
        // A writer without the projector appends behind the projection's back; the row stays
        // as it was until the projection catches up on its next open.
        world.log.close()
        let bare = try LMDBEventLog(directory: world.directory)
        _ = try await bare.append(
            [UserEvent.softDeleted.newEvent(actor: .system, correlationID: "bare") { $0 }], to: someone,
            expecting: .any)
        bare.close()
        world.log = try LMDBEventLog(directory: world.directory)
        let projection = try UserProjection(log: world.log, keys: world.keys, prepare: false)
        let row = try #require(try UserQueries(projection).user(id: someone))
        #expect(row.version == before.version, "the row should still be behind its stream")
        let answer = try ProjectedUserStates(projection).state(of: someone)
        #expect(answer.version == before.version + 1 && answer.isDeleted)
        #expect(try answer == FoldedUserStates(log: world.log, keys: world.keys).state(of: someone))
    }
}
