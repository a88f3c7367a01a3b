import AuthDomain
import AuthService
import EventLog
import EventLogLMDB
import Foundation
import LMDB
import ServiceTestSupport
import TestSupport
import Testing

@testable import Projections

@Suite(.ownThreads) struct ProjectionTests {
    /// Runs random commands through the service, then checks the projection against a fresh
    /// fold of every stream and the role index against a scan of the User table.
    func randomHistory(_ world: World, seed: UInt64, steps: Int) async throws {
        var users: [UUID] = []
        try await ServiceTestSupport.randomHistory(world.service, users: &users, seed: seed, steps: steps)
    }

    func checkAgainstFold(_ world: World) throws {
        var byRole: [Role: [UUID]] = [:]
        var deletedByRole: [Role: [UUID]] = [:]
        let ids = try world.streamIDs()
        for id in ids {
            let folded = try world.service.load(id)
            let projected = try #require(try world.queries.user(id: id))
            #expect(projected == folded, "user \(id) differs from the fold of its stream")
            if folded.isDeleted {
                deletedByRole[folded.role, default: []].append(id)
            } else {
                byRole[folded.role, default: []].append(id)
            }
        }
        for role in Role.allCases {
            var listed: [UUID] = []
            var cursor: String?
            repeat {
                let page = try world.queries.users(role: role, includeDeleted: true, limit: 7, after: cursor)
                listed += page.users.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            let live = (byRole[role] ?? []).sorted { uuidKey($0).lexicographicallyPrecedes(uuidKey($1)) }
            let deleted = (deletedByRole[role] ?? []).sorted { uuidKey($0).lexicographicallyPrecedes(uuidKey($1)) }
            #expect(listed == live + deleted, "role index for \(role) differs from a scan of the User table")
            #expect(try world.queries.users(role: role, limit: 1_000).users.map(\.id) == live)
            #expect(try world.queries.count(role: role) == live.count)
            #expect(try world.queries.count(role: role, includeDeleted: true) == live.count + deleted.count)
        }
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func theProjectionEqualsTheFoldOfEveryStream(seed: UInt64) async throws {
        let world = try World()
        defer { world.finish() }
        try await randomHistory(world, seed: seed, steps: 150)
        try checkAgainstFold(world)
        #expect(try world.projection.status()?.checkpoint == world.log.headPosition())
    }

    @Test func aNewProjectionVersionIsRebuiltOnOpenAndEqualsAFreshFold() async throws {
        let world = try World()
        defer { world.finish() }
        try await randomHistory(world, seed: 7, steps: 120)
        let before = try #require(try world.projection.status())
        try world.reopen(version: UserProjection.version + 1)
        let after = try #require(try world.projection.status())
        #expect(after.version == UserProjection.version + 1)
        #expect(after.generation != before.generation)
        #expect(after.checkpoint == before.checkpoint)
        try checkAgainstFold(world)
    }

    @Test func versionsAndCheckpointsSurviveAReopenWithoutARebuild() async throws {
        let world = try World()
        defer { world.finish() }
        try await randomHistory(world, seed: 11, steps: 60)
        let before = try world.projection.status()
        try world.reopen()
        #expect(try world.projection.status() == before)
        try checkAgainstFold(world)
    }

    @Test func aBatchOfAppendsIsProjectedEventByEventInOneTransaction() async throws {
        let world = try World()
        defer { world.finish() }
        try await randomHistory(world, seed: 13, steps: 40)
        let ids = try world.streamIDs().filter { !(try world.service.load($0).isErased) }
        try #require(ids.count >= 2)
        let (first, second) = (ids[0], ids[1])
        func event(_ event: UserEvent) -> NewEvent { event.newEvent(actor: .system, correlationID: "batch") { $0 } }
        let version = try world.service.load(first).version
        let role = try world.service.load(second).role
        let head = try world.log.headPosition()
        // One call, one write transaction: the same user twice, a refused request between,
        // another user, and one append of two events whose order decides the role.
        let outcomes = try await world.log.append([
            AppendRequest(stream: first, expected: .exactly(version), events: [event(.softDeleted)]),
            AppendRequest(stream: first, expected: .exactly(version), events: [event(.restored)]),
            AppendRequest(
                stream: second, expected: .any,
                events: [
                    event(.roleChanged(from: role, to: .manager)), event(.roleChanged(from: .manager, to: .admin)),
                ]),
            AppendRequest(stream: first, expected: .exactly(version + 1), events: [event(.restored)]),
            AppendRequest(stream: second, expected: .any, events: [event(.softDeleted)]),
        ])
        #expect(outcomes.map { (try? $0.get()) == nil } == [false, true, false, false, false])
        if case .failure(.conflict(_, _, let actual)) = outcomes[1] {
            #expect(actual == version + 1)
        } else {
            Issue.record("the second request was not refused as a conflict: \(outcomes[1])")
        }
        #expect(try world.log.headPosition() == head + 5)
        #expect(try world.projection.status()?.checkpoint == head + 5)
        let one = try #require(try world.queries.user(id: first))
        let two = try #require(try world.queries.user(id: second))
        #expect(one.version == version + 2 && !one.isDeleted)
        #expect(two.isDeleted && two.role == .admin)
        try checkAgainstFold(world)
    }

    @Test func appendsMadeWithoutTheProjectorAreCaughtUp() async throws {
        let world = try World()
        defer { world.finish() }
        try await randomHistory(world, seed: 5, steps: 40)
        // A writer without the projector (an older build, another tool) appends behind its back.
        let someone = try #require(try world.streamIDs().first)
        world.log.close()
        let bare = try LMDBEventLog(directory: world.directory)
        _ = try await bare.append(
            [UserEvent.softDeleted.newEvent(actor: .system, correlationID: "bare") { $0 }], to: someone, expecting: .any
        )
        bare.close()
        try world.reopen()
        #expect(try world.projection.status()?.checkpoint == world.log.headPosition())
        try checkAgainstFold(world)
    }

    @Test func aCrashMidRebuildLeavesTheOldProjectionServingAndANewRebuildCompletes() async throws {
        let world = try World()
        defer { world.finish() }
        try await randomHistory(world, seed: 13, steps: 80)
        let live = try #require(try world.projection.status())
        // What a rebuild killed half-way leaves: a spare generation partly written, catalog untouched.
        let spare = 1 - live.generation
        let someone = try #require(try world.streamIDs().first)
        try world.log.withWriteTransaction { txn in
            try world.projection.putRow(UserState(id: someone), sealedPersonal: nil, generation: spare, in: txn)
        }
        try world.reopen()
        #expect(try world.projection.status() == live)
        try checkAgainstFold(world)
        let report = try world.projection.rebuild()
        #expect(report.events == live.checkpoint)
        #expect(try world.projection.status()?.generation == spare)
        try checkAgainstFold(world)
    }

    @Test func aRebuildKeepsServingAndCatchesUpWithAppendsMadeMeanwhile() async throws {
        let world = try World()
        defer { world.finish() }
        try await randomHistory(world, seed: 17, steps: 100)
        let service = world.service
        let writer = Task {
            for index in 0..<30 {
                _ = try await service.register(
                    .init(
                        email: "during\(index)@example.com", password: "password-during", firstName: "D", lastName: "R"),
                    correlationID: "during")
            }
        }
        let projection = world.projection
        let report = try await Task.detached { try projection.rebuild() }.value
        try await writer.value
        #expect(report.events > 0)
        #expect(try world.projection.status()?.checkpoint == world.log.headPosition())
        try checkAgainstFold(world)
    }

    @Test func readsSeeTheirWritesAndTimeTravel() async throws {
        let world = try World()
        defer { world.finish() }
        let user = try await world.service.register(
            .init(email: "Time@Example.com", password: "password-time", firstName: "Tim", lastName: "Traveller"),
            correlationID: "t")
        #expect(try world.queries.user(email: "time@example.com")?.firstName == "Tim")
        let registeredAt = try #require(try world.log.readStream(user.id, from: 1).last)
        try await world.service.changeRole(of: user.id, to: .admin, actor: .system, correlationID: "t")
        try await world.service.updateProfile(
            of: user.id, firstName: "Timothy", lastName: nil, phone: nil, actor: .system, correlationID: "t")
        try await world.service.linkStripeCustomer(
            of: user.id, customerID: "cus_time", actor: .system, correlationID: "t")
        #expect(try world.queries.user(id: user.id)?.firstName == "Timothy")
        #expect(try world.queries.user(stripeCustomerID: "cus_time")?.id == user.id)
        let then = try #require(try world.queries.user(id: user.id, asOf: .position(registeredAt.position)))
        #expect(then.firstName == "Tim" && then.role == .target)
        #expect(try world.queries.user(id: user.id, asOf: .instant(Timestamp(microsecondsSince1970: 0))) == nil)
        #expect(try world.queries.holders(of: .admin, asOf: .position(registeredAt.position)).isEmpty)
        #expect(try world.queries.holders(of: .admin, asOf: .position(world.log.headPosition())) == [user.id])
        let trail = try world.queries.auditTrail(id: user.id)
        #expect(
            trail.map(\.type) == [
                "UserRegistered", "EmailVerificationRequested", "RoleChanged", "ProfileUpdated", "StripeCustomerLinked",
            ])
        #expect(trail[0].changes["email"] == "Time@Example.com" && trail[0].changes["password_hash"] == "changed")
        #expect(trail[2].changes == ["role": "ADMIN", "tokens_valid_after": trail[2].recordedAt.description])
        #expect(trail.allSatisfy { $0.actor == "anonymous" || $0.actor == "system" })
        #expect(throws: QueryError.invalidCursor) { try world.queries.users(role: .admin, after: "nonsense!") }
    }
}

@Suite(.ownThreads) struct ProjectedErasureTests {
    @Test func erasedUsersLeaveNoPersonalFieldInTheProjectionsAndStayErasedThroughARebuild() async throws {
        let world = try World()
        defer { world.finish() }
        let gone = try await world.service.register(
            .init(
                email: "Vanishing.Person@Example.org", password: "password-vanish", firstName: "Evanescent",
                lastName: "Fadeaway", phone: "+44 7700 900555"),
            correlationID: "t")
        try await world.service.linkStripeCustomer(
            of: gone.id, customerID: "cus_VanishingPerson", actor: .system, correlationID: "t")
        let kept = try await world.service.register(
            .init(email: "stays@example.org", password: "password-stays", firstName: "Steadfast", lastName: "Present"),
            correlationID: "t")
        #expect(try world.queries.user(id: gone.id)?.lastName == "Fadeaway")
        let key = try #require(try world.keys.dataKey(for: gone.id))
        try await world.service.erase(gone.id, actor: .system, correlationID: "t")
        for rebuild in [false, true] {
            if rebuild { try world.projection.rebuild() }
            let erased = try #require(try world.queries.user(id: gone.id))
            #expect(
                erased.isErased && erased.email.isEmpty && erased.lastName.isEmpty && erased.phone == nil
                    && erased.stripeCustomerID == nil)
            #expect(try world.queries.user(email: "vanishing.person@example.org") == nil)
            #expect(try world.queries.user(stripeCustomerID: "cus_VanishingPerson") == nil)
            #expect(try world.queries.user(id: kept.id)?.firstName == "Steadfast")
            guard case .intact = try world.log.verify() else {
                Issue.record("the chain does not verify")
                return
            }
        }
        let needles =
            [
                "Vanishing.Person@Example.org", "vanishing.person@example.org", "Evanescent", "Fadeaway",
                "+44 7700 900555", "cus_VanishingPerson",
            ]
            .map { Array($0.utf8) } + [key]
        let enumerator = FileManager.default.enumerator(atPath: world.directory)
        var scanned = 0
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: world.directory + "/" + path, isDirectory: &isDirectory)
            guard !isDirectory.boolValue else { continue }
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: world.directory + "/" + path)))
            scanned += 1
            for needle in needles { #expect(!bytes.contains(slice: needle), "erased data found in \(path)") }
        }
        #expect(scanned >= 4)
    }
}

extension Array where Element == UInt8 {
    func contains(slice: [UInt8]) -> Bool {
        guard !slice.isEmpty, slice.count <= count, let first = slice.first else { return false }
        var index = startIndex
        while let start = self[index...].firstIndex(of: first) {
            if start + slice.count > count { return false }
            if self[start..<start + slice.count].elementsEqual(slice) { return true }
            index = start + 1
        }
        return false
    }
}
