import AuthDomain
import Testing

@testable import AuthHTTP

@Suite struct SignedInClientsTests {
    func pair(_ account: String, _ client: String) -> AccountAddress {
        AccountAddress(account: TokenHash(of: Array(account.utf8)), client: client)
    }

    @Test func aPairIsKnownForItsLifetimeAfterItsLastRightPassword() {
        let clock = SecondsClock()
        let table = SignedInClients(lifetime: 100, maximumPairs: 10, clock: { clock.now })
        #expect(!table.contains(pair("a", "192.0.2.1")))
        table.record(pair("a", "192.0.2.1"))
        #expect(table.contains(pair("a", "192.0.2.1")))
        // Another account from the same client, or the same account elsewhere, is not known.
        #expect(!table.contains(pair("b", "192.0.2.1")) && !table.contains(pair("a", "192.0.2.2")))
        clock.advance(99)
        #expect(table.contains(pair("a", "192.0.2.1")))
        table.record(pair("a", "192.0.2.1"))  // a right password again starts the lifetime over
        clock.advance(99)
        #expect(table.contains(pair("a", "192.0.2.1")))
        clock.advance(1)
        #expect(!table.contains(pair("a", "192.0.2.1")))
    }

    @Test func aFullTableDropsTheExpiredThenTheOlderHalf() {
        let clock = SecondsClock()
        let table = SignedInClients(lifetime: 1_000, maximumPairs: 8, clock: { clock.now })
        for index in 0..<8 {
            table.record(pair("user\(index)", "192.0.2.1"))
            clock.advance(1)
        }
        #expect(table.count == 8)
        // Nothing expired: the four signed in most lately stay, with the newcomer.
        table.record(pair("newcomer", "192.0.2.1"))
        #expect(table.count == 5)
        #expect((0..<4).allSatisfy { !table.contains(pair("user\($0)", "192.0.2.1")) })
        #expect((4..<8).allSatisfy { table.contains(pair("user\($0)", "192.0.2.1")) })
        #expect(table.contains(pair("newcomer", "192.0.2.1")))
        // Known pairs signing in again take no room.
        clock.advance(10)
        table.record(pair("user4", "192.0.2.1"))
        #expect(table.count == 5)
        // Expired pairs go first, and when that frees a quarter, no live pair goes with them.
        for index in 0..<3 { table.record(pair("more\(index)", "192.0.2.1")) }
        clock.advance(991)  // user5 to user7 and the newcomer expire; user4 and more0 to more2 do not
        table.record(pair("last", "192.0.2.1"))
        #expect(table.count == 5)
        #expect(table.contains(pair("user4", "192.0.2.1")) && table.contains(pair("more2", "192.0.2.1")))
        #expect(!table.contains(pair("user7", "192.0.2.1")))
    }
}
