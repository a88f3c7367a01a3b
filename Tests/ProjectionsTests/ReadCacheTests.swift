import AuthDomain
import AuthService
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Projections

/// The read path's caches (decoded rows checked per snapshot, the live generation, email
/// owners) must never answer with anything but what the projection holds in the snapshot read.
@Suite(.ownThreads) struct ReadCacheTests {
    func register(_ world: World, _ email: String, firstName: String = "First") async throws -> UserState {
        try await world.service.register(
            .init(email: email, password: "password-long-enough", firstName: firstName, lastName: "Last"),
            correlationID: "c")
    }

    @Test func readsAfterEachWriteSeeIt() async throws {
        let world = try World()
        defer { world.finish() }
        let user = try await register(world, "changing@example.com", firstName: "n0")
        for round in 1...20 {
            // Warm every read path, then change the user and read again.
            _ = try world.queries.user(id: user.id)
            _ = try world.queries.user(id: user.id, includePersonal: false)
            _ = try world.queries.user(email: "changing@example.com")
            _ = try world.queries.users(role: .target)
            try await world.service.updateProfile(
                of: user.id, firstName: "n\(round)", lastName: nil, phone: nil, actor: .system, correlationID: "c")
            #expect(try world.queries.user(id: user.id)?.firstName == "n\(round)")
            #expect(try world.queries.user(email: "changing@example.com")?.firstName == "n\(round)")
            #expect(try world.queries.users(role: .target).users.map(\.firstName) == ["n\(round)"])
            let version = try #require(try world.queries.user(id: user.id)?.version)
            #expect(try world.queries.user(id: user.id, includePersonal: false)?.version == version)
        }
    }

    @Test func anAddressFreedByErasureAndTakenAgainFindsTheNewOwner() async throws {
        let world = try World()
        defer { world.finish() }
        let first = try await register(world, "Shared@Example.com", firstName: "Before")
        #expect(try world.queries.user(email: "shared@example.com")?.id == first.id)
        #expect(try world.queries.user(email: "SHARED@example.com")?.id == first.id)
        try await world.service.erase(first.id, actor: .system, correlationID: "c")
        #expect(try world.queries.user(email: "shared@example.com") == nil)
        let second = try await register(world, "shared@example.com", firstName: "After")
        for _ in 0..<3 {
            let found = try #require(try world.queries.user(email: "Shared@Example.com"))
            #expect(found.id == second.id && found.firstName == "After")
        }
        let erased = try #require(try world.queries.user(id: first.id))
        #expect(erased.isErased && erased.email.isEmpty && erased.firstName.isEmpty)
    }

    @Test func publicReadsEqualTheRowWithItsSealedPartClosed() async throws {
        let world = try World()
        defer { world.finish() }
        let user = try await world.service.register(
            .init(
                email: "public@example.com", password: "password-long-enough", firstName: "Pub", lastName: "Lic",
                phone: "+44 7700 900123"),
            correlationID: "c")
        try await world.service.linkStripeCustomer(
            of: user.id, customerID: "cus_public", actor: .system, correlationID: "c")
        let cold = try #require(try world.queries.user(id: user.id, includePersonal: false))
        let full = try #require(try world.queries.user(id: user.id))
        let warm = try #require(try world.queries.user(id: user.id, includePersonal: false))
        #expect(full.phone == "+44 7700 900123" && full.stripeCustomerID == "cus_public")
        #expect(cold == warm)
        #expect(warm == full.withoutPersonalFields)
        #expect(warm.email.isEmpty && warm.passwordHash.isEmpty && warm.phone == nil && warm.stripeCustomerID == nil)
    }

    @Test func pagesWalkEveryUserOnceInOrder() async throws {
        let world = try World()
        defer { world.finish() }
        var ids: [UUID] = []
        for index in 0..<23 { ids.append(try await register(world, "page\(index)@example.com").id) }
        for _ in 0..<2 {  // cold, then from the cache
            var seen: [UUID] = []
            var cursor: String?
            repeat {
                let page = try world.queries.users(role: .target, limit: 5, after: cursor)
                #expect(page.users.count <= 5)
                seen += page.users.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen == ids)
        }
        try await world.service.changeRole(of: ids[3], to: .admin, actor: .system, correlationID: "c")
        #expect(try world.queries.users(role: .admin).users.map(\.id) == [ids[3]])
        #expect(try world.queries.users(role: .target, limit: 100).users.count == 22)
    }

    @Test func concurrentReadersNeverGoBackInTime() async throws {
        let world = try World()
        defer { world.finish() }
        let user = try await register(world, "racing@example.com", firstName: "n0")
        let registeredVersion = user.version
        let queries = world.queries
        let failures = Atomic<Int>(0)
        // What the first failed reads saw, so that a failure says which rule broke.
        let seen = Mutex<[String]>([])
        @Sendable func fail(_ reader: Int, _ what: String) {
            failures.add(1, ordering: .relaxed)
            seen.withLock { if $0.count < 5 { $0.append("reader \(reader): \(what)") } }
        }
        let done = Atomic<Bool>(false)
        let readers = (0..<2).map { reader in
            Thread.detachNewThreadWithCompletion {
                var last: UInt64 = 0
                while !done.load(ordering: .acquiring) {
                    let state: UserState?
                    do {
                        state =
                            reader == 0
                            ? try queries.user(id: user.id) : try queries.user(email: "racing@example.com")
                    } catch {
                        fail(reader, "threw \(error)")
                        continue
                    }
                    guard let state else {
                        fail(reader, "no user")
                        continue
                    }
                    guard state.version >= last else {
                        fail(reader, "version \(state.version) after \(last)")
                        continue
                    }
                    guard state.firstName == "n\(state.version - registeredVersion)" else {
                        fail(reader, "first name \(state.firstName) at version \(state.version)")
                        continue
                    }
                    last = state.version
                }
            }
        }
        for round in 1...30 {
            try await world.service.updateProfile(
                of: user.id, firstName: "n\(round)", lastName: nil, phone: nil, actor: .system, correlationID: "c")
        }
        done.store(true, ordering: .releasing)
        for reader in readers { await reader.value }
        #expect(failures.load(ordering: .relaxed) == 0, "\(seen.withLock { $0 })")
        #expect(try world.queries.user(id: user.id)?.firstName == "n30")
    }
}

extension Thread {
    /// Runs `body` on a new thread; the task finishes when it returns.
    static func detachNewThreadWithCompletion(_ body: @escaping @Sendable () -> Void) -> Task<Void, Never> {
        let finished = AsyncStream<Void>.makeStream()
        Thread.detachNewThread {
            body()
            finished.continuation.finish()
        }
        return Task { for await _ in finished.stream {} }
    }
}

@Suite(.ownThreads) struct DecodedRowTableTests {
    func user(_ version: UInt64, id: UUID = UUID(), name: String = "name") -> UserState {
        var state = UserState(id: id)
        state.version = version
        state.firstName = name
        return state
    }

    @Test func hitsNeedTheSameSnapshotAndGenerationOrTheSameVersion() {
        var table = DecodedRowTable(capacity: 16)
        let stored = user(3)
        table.store(stored, checkedAt: SnapshotStamp(snapshot: 10, generation: 0))
        #expect(table.state(stored.id, checkedAt: SnapshotStamp(snapshot: 10, generation: 0)) == stored)
        #expect(table.state(stored.id, checkedAt: SnapshotStamp(snapshot: 11, generation: 0)) == nil)
        #expect(table.state(stored.id, checkedAt: SnapshotStamp(snapshot: 10, generation: 1)) == nil)
        #expect(table.state(stored.id, version: 4, checkedAt: SnapshotStamp(snapshot: 11, generation: 0)) == nil)
        #expect(table.state(stored.id, version: 3, checkedAt: SnapshotStamp(snapshot: 11, generation: 0)) == stored)
        // The check in snapshot 11 is now recorded; an older snapshot's check does not replace it.
        #expect(table.state(stored.id, checkedAt: SnapshotStamp(snapshot: 11, generation: 0)) == stored)
        _ = table.state(stored.id, version: 3, checkedAt: SnapshotStamp(snapshot: 9, generation: 0))
        #expect(table.state(stored.id, checkedAt: SnapshotStamp(snapshot: 11, generation: 0)) == stored)
        // Stored without a read snapshot (from a write transaction): only the version can hit.
        let unstamped = user(5)
        table.store(unstamped, checkedAt: nil)
        #expect(table.state(unstamped.id, checkedAt: SnapshotStamp(snapshot: 0, generation: 0)) == nil)
        #expect(table.state(unstamped.id, version: 5, checkedAt: nil) == unstamped)
        #expect(table.state(UUID(), version: 5, checkedAt: nil) == nil)
    }

    /// An entry lends its personal fields to a row whose sealed part is the very bytes the
    /// entry was opened from, at any version; never for other bytes, an empty part, or an
    /// entry made before the limit.
    @Test func personalFieldsAreLentOnlyForTheSameSealedBytes() {
        var table = DecodedRowTable(capacity: 16)
        let stored = user(3)
        let sealed: [UInt8] = Array(0..<60)
        table.store(stored, sealedPersonal: sealed, checkedAt: SnapshotStamp(snapshot: 19, generation: 0))
        sealed.withUnsafeBytes { #expect(table.state(stored.id, sealedPersonal: $0) == stored) }
        sealed.withUnsafeBytes { #expect(table.state(stored.id, sealedPersonal: $0, madeSince: 20) == nil) }
        sealed.withUnsafeBytes { #expect(table.state(UUID(), sealedPersonal: $0) == nil) }
        var other = sealed
        other[59] ^= 1
        other.withUnsafeBytes { #expect(table.state(stored.id, sealedPersonal: $0) == nil) }
        Array(sealed.dropLast()).withUnsafeBytes { #expect(table.state(stored.id, sealedPersonal: $0) == nil) }
        // An entry with no sealed part (an erased user's row) lends nothing, not even for none.
        let erased = user(4)
        table.store(erased, checkedAt: nil)
        [UInt8]().withUnsafeBytes { #expect(table.state(erased.id, sealedPersonal: $0) == nil) }
    }

    /// An entry dropped by `forget` (its user erased) answers no lookup, by snapshot, version
    /// or sealed part; the other entries, whose probes may pass its slot, all stay; a later
    /// store of the same user is found again.
    @Test func aForgottenEntryServesNoReadAndTheOthersStay() {
        var table = DecodedRowTable(capacity: 64)
        let stamp = SnapshotStamp(snapshot: 30, generation: 0)
        let sealed: [UInt8] = Array(repeating: 7, count: 40)
        let users = (0..<40).map { user(UInt64($0 + 1), name: "user \($0)") }
        for state in users { table.store(state, sealedPersonal: sealed, checkedAt: stamp) }
        for state in users where state.version % 2 == 0 { table.forget(state.id) }
        for state in users {
            let kept = state.version % 2 == 1
            #expect((table.state(state.id, checkedAt: stamp) == state) == kept)
            #expect((table.state(state.id, version: state.version, checkedAt: stamp) == state) == kept)
            sealed.withUnsafeBytes { #expect((table.state(state.id, sealedPersonal: $0) == state) == kept) }
        }
        let again = users[1]
        table.store(again, checkedAt: stamp)
        #expect(table.state(again.id, version: again.version, checkedAt: stamp) == again)
        // Forgetting a user with no entry changes nothing.
        table.forget(UUID())
        #expect(table.state(users[0].id, checkedAt: stamp) == users[0])
    }

    /// After ``DecodedRowCache/forgetAll(before:)`` at snapshot 20 (a log filled with another
    /// history from then on): reads of earlier snapshots neither use nor store anything, and
    /// no entry made before serves a later read, whatever its version. (An entry stored after
    /// the call by a reader that had looked before it is the table's part:
    /// `anEntryMadeBeforeTheLimitIsNoHit`.)
    @Test func entriesMadeBeforeAHistoryChangeServeNoLaterRead() {
        let cache = DecodedRowCache(capacity: 64, shards: 2)
        let old = user(3, name: "old history")
        cache.store(old, checkedAt: SnapshotStamp(snapshot: 12, generation: 0))
        #expect(cache.state(old.id, version: 3, checkedAt: SnapshotStamp(snapshot: 13, generation: 0)) == old)
        cache.forgetAll(before: 20)
        let later = SnapshotStamp(snapshot: 20, generation: 0)
        #expect(cache.state(old.id, version: 3, checkedAt: later) == nil)
        // A reader still in snapshot 19 neither reads nor stores.
        cache.store(old, checkedAt: SnapshotStamp(snapshot: 19, generation: 0))
        #expect(cache.state(old.id, version: 3, checkedAt: SnapshotStamp(snapshot: 19, generation: 0)) == nil)
        #expect(cache.state(old.id, version: 3, checkedAt: later) == nil)
        #expect(cache.state(old.id, checkedAt: SnapshotStamp(snapshot: 19, generation: 0)) == nil)
        // Nor does a write transaction's read (no snapshot).
        cache.store(old, checkedAt: nil)
        #expect(cache.state(old.id, version: 3, checkedAt: later) == nil)
        // The new history's entries serve as before.
        let new = user(3, id: old.id, name: "new history")
        cache.store(new, checkedAt: later)
        #expect(cache.state(old.id, checkedAt: later) == new)
        #expect(cache.state(old.id, version: 3, checkedAt: SnapshotStamp(snapshot: 21, generation: 0)) == new)
    }

    /// The table's half of that rule: an entry made in a snapshot before `madeSince` is no hit,
    /// even one stored after the cache began forgetting (a reader that had looked before).
    @Test func anEntryMadeBeforeTheLimitIsNoHit() {
        var table = DecodedRowTable(capacity: 16)
        let stored = user(3)
        table.store(stored, checkedAt: SnapshotStamp(snapshot: 19, generation: 0))
        let later = SnapshotStamp(snapshot: 20, generation: 0)
        #expect(table.state(stored.id, version: 3, checkedAt: later, madeSince: 20) == nil)
        #expect(table.state(stored.id, checkedAt: SnapshotStamp(snapshot: 19, generation: 0), madeSince: 20) == nil)
        #expect(table.state(stored.id, version: 3, checkedAt: later, madeSince: 19) == stored)
        table.store(stored, checkedAt: later)
        #expect(table.state(stored.id, version: 3, checkedAt: later, madeSince: 20) == stored)
    }

    @Test func aFullTableStartsOverAndStaysCorrect() {
        var table = DecodedRowTable(capacity: 8)
        var stored: [UserState] = []
        for index in 0..<100 {
            let state = user(UInt64(index + 1), name: "user \(index)")
            table.store(state, checkedAt: nil)
            stored.append(state)
            let recent = stored.suffix(index % 8 + 1)  // what survives the last start-over
            for state in recent { #expect(table.state(state.id, version: state.version, checkedAt: nil) == state) }
        }
        var found = 0
        for state in stored where table.state(state.id, version: state.version, checkedAt: nil) != nil {
            #expect(table.state(state.id, version: state.version, checkedAt: nil) == state)
            found += 1
        }
        #expect(found <= 8)
    }

    @Test func growingPastTheHugePageThresholdKeepsEveryEntry() {
        var table = DecodedRowTable(capacity: DecodedRowTable.hugePageThreshold * 2)
        let stored = (0..<(DecodedRowTable.hugePageThreshold + 500)).map { user(UInt64($0 + 1), name: "u\($0)") }
        for state in stored { table.store(state, checkedAt: SnapshotStamp(snapshot: 4, generation: 1)) }
        #expect(stored.allSatisfy { table.state($0.id, checkedAt: SnapshotStamp(snapshot: 4, generation: 1)) == $0 })
    }

    @Test func replacingAnEntryKeepsOneEntryPerUser() {
        var table = DecodedRowTable(capacity: 4)
        let id = UUID()
        for version in 1...50 {
            table.store(user(UInt64(version), id: id, name: "v\(version)"), checkedAt: nil)
        }
        #expect(table.state(id, version: 50, checkedAt: nil)?.firstName == "v50")
        #expect(table.state(id, version: 49, checkedAt: nil) == nil)
    }
}
