import AuthDomain
import AuthService
import EventLog
import Foundation
import ServiceTestSupport
import TestSupport
import Testing

@testable import Projections

/// The console's search index against the projection it is built from.
@Suite(.ownThreads) struct UserDirectoryTests {
    func register(_ world: World, _ email: String, phone: String? = nil) async throws -> UserState {
        try await world.service.register(
            .init(email: email, password: "password-\(email)", firstName: "First", lastName: "Last", phone: phone),
            correlationID: "t")
    }

    func search(_ directory: UserDirectoryIndex, _ text: String, _ configure: (inout DirectoryQuery) -> Void = { _ in })
        throws -> [UUID]
    {
        var query = DirectoryQuery()
        query.text = text
        configure(&query)
        return try directory.search(query).ids
    }

    @Test func findsByEmailPrefixIdPhoneAndStripeIdAndFollowsTheLog() async throws {
        let world = try World()
        defer { world.finish() }
        let ada = try await register(world, "ada@example.com", phone: "+44 7700 900123")
        let adam = try await register(world, "Adam@Example.com")
        let bob = try await register(world, "bob@example.com")
        let directory = UserDirectoryIndex(world.projection)
        #expect(Set(try search(directory, "ad")) == [ada.id, adam.id])
        #expect(try search(directory, "ADAM") == [adam.id])
        #expect(try search(directory, "b") == [bob.id])
        #expect(try search(directory, "zz").isEmpty)
        #expect(try search(directory, ada.id.uuidString) == [ada.id])
        #expect(try search(directory, "+44 7700") == [ada.id])
        #expect(try search(directory, "").count == 3)
        // Newest first by default; ties cannot happen here (registrations are apart in time).
        #expect(try search(directory, "") == [bob.id, adam.id, ada.id])

        // Later commits are seen by the next search: a new user, a role, a Stripe id, a new address.
        let carol = try await register(world, "carol@example.com")
        try await world.service.changeRole(of: carol.id, to: .manager, actor: .system, correlationID: "t")
        try await world.service.linkStripeCustomer(
            of: bob.id, customerID: "cus_Bob123", actor: .system, correlationID: "t")
        #expect(try search(directory, "carol") == [carol.id])
        #expect(try search(directory, "", { $0.role = .manager }) == [carol.id])
        #expect(try search(directory, "cus_Bob") == [bob.id])
        #expect(try directory.roleCounts()[.manager] == 1)
        #expect(try directory.roleCounts()[.target] == 3)

        try await world.service.softDelete(adam.id, actor: .system, correlationID: "t")
        #expect(try search(directory, "ad", { $0.deleted = true }) == [adam.id])
        #expect(try search(directory, "ad", { $0.deleted = false }) == [ada.id])

        // Paging: offsets and the total.
        var query = DirectoryQuery()
        query.limit = 2
        query.offset = 2
        let page = try directory.search(query)
        #expect(page.total == 4 && page.ids.count == 2)
        #expect(page.position == (try world.log.headPosition()))
    }

    @Test func anErasedUsersAddressPhoneAndStripeIdLeaveTheIndex() async throws {
        let world = try World()
        defer { world.finish() }
        let gone = try await register(world, "vanishing@example.org", phone: "+1 555 0100")
        try await world.service.linkStripeCustomer(
            of: gone.id, customerID: "cus_Vanish", actor: .system, correlationID: "t")
        let directory = UserDirectoryIndex(world.projection)
        #expect(try search(directory, "vanish") == [gone.id])
        try await world.service.erase(gone.id, actor: .system, correlationID: "t")
        #expect(try search(directory, "vanish").isEmpty)
        #expect(try search(directory, "+1 555").isEmpty)
        #expect(try search(directory, "cus_Vanish").isEmpty)
        #expect(try search(directory, gone.id.uuidString) == [gone.id])
        #expect(try search(directory, "", { $0.erased = true }) == [gone.id])
        // Nothing of the address is left in the index's entries.
        let held = try directory.entries()
        #expect(
            !held.contains { $0.email.contains("vanish") || $0.phone.contains("555") || $0.stripe.contains("Vanish") })
        // A rebuild of the projection (a new generation) rebuilds the index: still absent.
        try world.projection.rebuild()
        #expect(try search(directory, "vanish").isEmpty)
    }

    @Test(arguments: [UInt64(7), 8])
    func matchesAScanOfTheProjectionAfterARandomHistory(seed: UInt64) async throws {
        let world = try World()
        defer { world.finish() }
        let directory = UserDirectoryIndex(world.projection)
        var users: [UUID] = []
        // Searched half-way, so the second half is folded in incrementally.
        try await ServiceTestSupport.randomHistory(world.service, users: &users, seed: seed, steps: 60)
        _ = try search(directory, "")
        try await ServiceTestSupport.randomHistory(world.service, users: &users, seed: seed + 100, steps: 60)
        for id in try world.streamIDs() {
            let user = try #require(try world.queries.user(id: id))
            let prefix = String(user.email.lowercased().prefix(3))
            if !user.email.isEmpty {
                #expect(try search(directory, prefix).contains(id), "\(user.email) not found by \(prefix)")
            }
            var query = DirectoryQuery()
            query.text = id.uuidString
            query.role = user.role
            query.deleted = user.isDeleted
            query.erased = user.isErased
            query.verified = user.emailVerifiedAt != nil
            #expect(try directory.search(query).ids == [id])
        }
    }
}

/// The console's fast paths against the slow reads they replace.
@Suite(.ownThreads) struct ConsoleFastPathTests {
    @Test(arguments: [UInt64(3), 4])
    func aSearchPageEqualsTheFirstPageOfAFullSort(seed: UInt64) async throws {
        let world = try World()
        defer { world.finish() }
        var users: [UUID] = []
        try await ServiceTestSupport.randomHistory(world.service, users: &users, seed: seed, steps: 80)
        let directory = UserDirectoryIndex(world.projection)
        let entries = try directory.entries()
        for order in [DirectoryQuery.Order.created, .lastLogin] {
            for role in [Role?.none, .target] {
                let slots = entries.indices.filter { role == nil || entries[$0].role == role }
                func key(_ slot: Int) -> Int64 { order == .created ? entries[slot].created : entries[slot].lastLogin }
                let sorted = slots.sorted { key($0) == key($1) ? $0 < $1 : key($0) > key($1) }.map { entries[$0].id }
                for offset in [0, 3] {
                    var query = DirectoryQuery()
                    query.order = order
                    query.role = role
                    query.limit = 4
                    query.offset = offset
                    let page = try directory.search(query)
                    #expect(page.ids == Array(sorted.dropFirst(offset).prefix(4)))
                    #expect(page.total == sorted.count)
                }
            }
        }
    }

    @Test func topSlotsKeepsAFullSortsFirstPageWhateverTheOrderOffered() {
        var random = SplitMix64(seed: 11)
        let keys = (0..<500).map { _ in Int64(random.next() % 40) }
        let sorted = keys.indices.sorted { keys[$0] == keys[$1] ? $0 < $1 : keys[$0] > keys[$1] }
        for order in [Array(keys.indices), keys.indices.reversed(), keys.indices.shuffled(using: &random)] {
            var top = TopSlots(capacity: 25)
            for slot in order { top.offer(slot, key: keys[slot]) }
            #expect(top.slots == Array(sorted.prefix(25)))
        }
    }

    @Test(arguments: [UInt64(5)])
    func asOfAPositionEqualsAFoldOfTheWholeStreamFiltered(seed: UInt64) async throws {
        let world = try World()
        defer { world.finish() }
        var users: [UUID] = []
        try await ServiceTestSupport.randomHistory(world.service, users: &users, seed: seed, steps: 80)
        for id in try world.streamIDs() {
            let events = try world.log.readStream(id, from: 1)
            for probe in events.map(\.position) + [0, try world.log.headPosition()] {
                var reference = UserState(id: id)
                for event in events where event.position <= probe {
                    reference = reference.evolve(try world.projection.sealing.decode(event), at: event.recordedAt)
                }
                #expect(
                    try world.queries.user(id: id, asOf: .position(probe)) == (reference.exists ? reference : nil))
            }
        }
    }
}
