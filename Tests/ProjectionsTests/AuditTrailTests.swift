import AuthDomain
import AuthService
import Foundation
import TestSupport
import Testing

@testable import Projections

/// The audit trail and the as-of fold, read in place with one key look-up and one cipher
/// context per stream, pinned to the plain way (the stream copied out, each event decoded on
/// its own).
@Suite(.ownThreads) struct AuditTrailTests {
    @Test func theTrailReadInPlaceIsTheTrailReadByCopies() async throws {
        let world = try World()
        defer { world.finish() }
        _ = try await Seeder(log: world.log, keys: world.keys).seed(users: 30, events: 1_500, window: 7)
        try world.reopen()
        let users = try world.keys.users()
        #expect(users.count == 30)
        // Two users erased: their trails are read without a key, personal fields left out.
        for id in users.prefix(2) {
            _ = try await world.service.erase(id, actor: .system, correlationID: "audit-trail-test")
        }
        var entries = 0
        for id in users + [UUID()] {
            let fast = try world.queries.auditTrail(id: id)
            #expect(fast == (try world.queries.auditTrailByCopies(id: id)), "user \(id)")
            entries += fast.count
        }
        // A page of the trail, picked and folded by the read model, against the page cut
        // from the whole trail: every page, for several filters.
        let filters: [(AuditHead) -> Bool] = [
            { _ in true }, { $0.type == "ProfileUpdated" }, { $0.type == "LoginFailed" || $0.type == "RoleChanged" },
            { $0.position % 3 == 0 }, { _ in false },
        ]
        var pages = 0
        for id in users.prefix(10) {
            let trail = try world.queries.auditTrailByCopies(id: id)
            for accepts in filters {
                var before: UInt64?
                while true {
                    let page = try world.queries.auditPage(id: id, before: before, limit: 7, accepts: accepts)
                    let reference = AuditPage(trail: trail, before: before, limit: 7, accepts: accepts)
                    #expect(page == reference, "user \(id), before \(String(describing: before))")
                    pages += 1
                    guard page.more, let last = page.entries.last else { break }
                    before = last.entry.position
                }
            }
        }
        #expect(pages > 100)

        // Every event of the log is in one trail or another.
        let head = try world.log.headPosition()
        #expect(entries == Int(head))

        for id in users.prefix(8) {
            let events = try world.log.readStream(id, from: 1)
            let moments: [ReadMoment] = [
                .position(0), .position(head / 3), .position(head / 2), .position(head),
                .instant(events[events.count / 2].recordedAt),
            ]
            for moment in moments {
                var state = UserState(id: id)
                for event in events where moment.includes(event) {
                    state = state.evolve(try world.projection.sealing.decode(event), at: event.recordedAt)
                }
                #expect(try world.queries.user(id: id, asOf: moment) == (state.exists ? state : nil), "\(moment)")
            }
        }
    }
}
