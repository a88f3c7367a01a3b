import AuthDomain
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import ServiceTestSupport
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

    /// Reads between the commands, so that the decoded-row cache holds each user at an older
    /// version when the next read comes: its personal fields are taken from the entry when the
    /// row's sealed part is unchanged, and must still be the fold's.
    @Test func readsBetweenCommandsAnswerWhatTheFoldAnswers() async throws {
        let world = try World()
        defer { world.finish() }
        let projected = ProjectedUserStates(world.projection)
        let folded = FoldedUserStates(log: world.log, keys: world.keys)
        var users: [UUID] = []
        var compared = 0
        for round in 0..<30 {
            try await ServiceTestSupport.randomHistory(
                world.service, users: &users, seed: 40 + UInt64(round), steps: 5, emailPrefix: "r\(round)-")
            for id in users {
                #expect(try projected.state(of: id) == folded.state(of: id), "round \(round): user \(id)")
                compared += 1
            }
        }
        #expect(users.count > 10 && compared > 300)
    }

    /// A pending email change's new address is sealed with the other personal fields; a role
    /// change and a failed login since leave the sealed part as it was, and the address
    /// read after them is still the one asked for.
    @Test func aPendingNewAddressSurvivesEventsThatLeaveThePersonalPart() async throws {
        let world = try World()
        defer { world.finish() }
        let projected = ProjectedUserStates(world.projection)
        let folded = FoldedUserStates(log: world.log, keys: world.keys)
        let password = "a long password"
        let user = try await world.service.register(
            .init(email: "first@example.com", password: password, firstName: "A", lastName: "B"), correlationID: "t")
        try await world.service.requestEmailChange(
            userID: user.id, actor: .user(user.id, .target), currentPassword: password,
            newEmail: "second@example.com", correlationID: "t")
        #expect(try projected.state(of: user.id).emailChange?.newEmail == "second@example.com")
        try await world.service.changeRole(of: user.id, to: .admin, actor: .system, correlationID: "t")
        _ = try? await world.service.login(email: "first@example.com", password: "wrong password", correlationID: "t")
        let read = try projected.state(of: user.id)
        #expect(read.emailChange?.newEmail == "second@example.com" && read.role == .admin && read.failedLogins == 1)
        #expect(try read == folded.state(of: user.id))
    }

    /// An erasure drops the user's decoded entry: nothing of it answers a read again.
    @Test func anErasureDropsTheUsersDecodedEntry() async throws {
        let world = try World()
        defer { world.finish() }
        let user = try await world.service.register(
            .init(email: "gone@example.com", password: "a long password", firstName: "A", lastName: "B"),
            correlationID: "t")
        let read = try ProjectedUserStates(world.projection).state(of: user.id)
        #expect(read.email == "gone@example.com")
        #expect(world.projection.decoded.state(user.id, version: read.version, checkedAt: nil) == read)
        _ = try await world.service.erase(user.id, actor: .system, correlationID: "t")
        #expect(world.projection.decoded.state(user.id, version: read.version, checkedAt: nil) == nil)
        let after = try ProjectedUserStates(world.projection).state(of: user.id)
        #expect(after.isErased && after.email.isEmpty && after.passwordHash.isEmpty && after.firstName.isEmpty)
    }

    /// A row marked erased that still carries a sealed part (written by hand into the file) is
    /// neither opened nor lent fields by an entry: it reads with no personal field.
    @Test func anErasedRowWithASealedPartReadsEmpty() throws {
        var state = UserState(id: UUID())
        state.version = 4
        state.email = "kept@example.com"
        state.passwordHash = "$argon2id$kept"
        state.firstName = "Kept"
        // The "seal" is the plain bytes themselves, so that `open` can hand them back.
        var plain: [UInt8] = []
        var bytes = try UserRow.encode(state) { personal in
            plain = personal
            return personal
        }
        let honest = try bytes.withUnsafeBytes { raw in
            try UserRow.decode(raw, id: state.id) { _ in
                nil
            } open: {
                Array($0)
            }
        }
        #expect(honest.state.email == "kept@example.com" && honest.sealedPersonal == plain)
        // Byte 10, after the format, the version and the role: the erased flag.
        #expect(bytes[10] == 0)
        bytes[10] = 1
        let forged = try bytes.withUnsafeBytes { raw in
            try UserRow.decode(raw, id: state.id) { _ in
                honest.state
            } open: {
                Array($0)
            }
        }
        #expect(forged.state.isErased)
        #expect(forged.state.email.isEmpty && forged.state.passwordHash.isEmpty && forged.state.firstName.isEmpty)
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
