import AuthDomain
import TestSupport
import Testing

@testable import AuthHTTP

@Suite(.ownThreads) struct SignedInClientsTests {
    func pair(_ account: String, _ client: String) -> AccountAddress {
        AccountAddress(account: TokenHash(of: Array(account.utf8)), client: client)
    }

    @Test func aPairIsKnownForItsLifetimeAfterItsLastRightPassword() {
        let clock = SecondsClock()
        let table = SignedInClients(lifetime: 100, maximumPairs: 10, clock: { clock.now })
        #expect(!table.contains(pair("a", "192.0.2.1")))
        table.record(pair("a", "192.0.2.1"), site: "192.0.2.1")
        #expect(table.contains(pair("a", "192.0.2.1")))
        // Another account from the same client, or the same account elsewhere, is not known.
        #expect(!table.contains(pair("b", "192.0.2.1")) && !table.contains(pair("a", "192.0.2.2")))
        clock.advance(99)
        #expect(table.contains(pair("a", "192.0.2.1")))
        table.record(pair("a", "192.0.2.1"), site: "192.0.2.1")  // a right password again starts the lifetime over
        clock.advance(99)
        #expect(table.contains(pair("a", "192.0.2.1")))
        clock.advance(1)
        #expect(!table.contains(pair("a", "192.0.2.1")))
    }

    @Test func aFullTableDropsTheExpiredThenTheOlderHalf() {
        let clock = SecondsClock()
        let table = SignedInClients(lifetime: 1_000, maximumPairs: 8, maximumPairsPerSite: 2, clock: { clock.now })
        for index in 0..<8 {
            table.record(pair("user\(index)", "192.0.2.\(index)"), site: "192.0.2.\(index)")
            clock.advance(1)
        }
        #expect(table.count == 8)
        // Nothing expired: the four signed in most lately stay, with the newcomer.
        table.record(pair("newcomer", "192.0.2.9"), site: "192.0.2.9")
        #expect(table.count == 5)
        #expect((0..<4).allSatisfy { !table.contains(pair("user\($0)", "192.0.2.\($0)")) })
        #expect((4..<8).allSatisfy { table.contains(pair("user\($0)", "192.0.2.\($0)")) })
        #expect(table.contains(pair("newcomer", "192.0.2.9")))
        // Known pairs signing in again take no room.
        clock.advance(10)
        table.record(pair("user4", "192.0.2.4"), site: "192.0.2.4")
        #expect(table.count == 5)
        // Expired pairs go first, and when that frees a quarter, no live pair goes with them.
        for index in 0..<3 { table.record(pair("more\(index)", "198.51.100.\(index)"), site: "198.51.100.\(index)") }
        clock.advance(991)  // user5 to user7 and the newcomer expire; user4 and more0 to more2 do not
        table.record(pair("last", "203.0.113.1"), site: "203.0.113.1")
        #expect(table.count == 5)
        #expect(table.contains(pair("user4", "192.0.2.4")) && table.contains(pair("more2", "198.51.100.2")))
        #expect(!table.contains(pair("user7", "192.0.2.7")))
    }

    /// Whoever signs in to many accounts of their own from one site replaces only that site's
    /// pairs: an owner known elsewhere stays known.
    @Test func oneSiteSigningInToManyAccountsReplacesOnlyItsOwnPairs() {
        let clock = SecondsClock()
        let table = SignedInClients(lifetime: 1_000, maximumPairs: 100, maximumPairsPerSite: 3, clock: { clock.now })
        table.record(pair("owner", "192.0.2.1"), site: "192.0.2.1")
        for index in 0..<1_000 {
            clock.advance(0.001)
            let client = "2001:db8:aa:\(String(index, radix: 16))::/64"
            table.record(pair("sock\(index)", client), site: "2001:db8:aa::/48")
        }
        #expect(table.contains(pair("owner", "192.0.2.1")))
        #expect(table.count == 4)
        // The site keeps its three pairs signed in most lately.
        #expect(table.contains(pair("sock999", "2001:db8:aa:3e7::/64")))
        #expect(table.contains(pair("sock997", "2001:db8:aa:3e5::/64")))
        #expect(!table.contains(pair("sock996", "2001:db8:aa:3e4::/64")))
        // Signing in again where known takes no new room and keeps the pair.
        table.record(pair("sock997", "2001:db8:aa:3e5::/64"), site: "2001:db8:aa::/48")
        table.record(pair("sock1000", "2001:db8:aa:3e8::/64"), site: "2001:db8:aa::/48")
        #expect(table.contains(pair("sock997", "2001:db8:aa:3e5::/64")))
        #expect(!table.contains(pair("sock998", "2001:db8:aa:3e6::/64")))
        #expect(table.count == 4)
    }
}
