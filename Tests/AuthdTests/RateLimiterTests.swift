import Foundation
import NIOCore
import Synchronization
import TestSupport
import Testing

@testable import AuthHTTP

/// A clock the test moves by hand, in seconds.
final class SecondsClock: Sendable {
    private let seconds = Mutex(1_000.0)
    var now: Double { seconds.withLock { $0 } }
    func advance(_ by: Double) { seconds.withLock { $0 += by } }
}

@Suite(.ownThreads) struct RateLimiterTests {
    @Test func aKeySpendsItsCapacityThenWaitsForTheRefill() {
        let clock = SecondsClock()
        let limiter = RateLimiter<String>(capacity: 3, period: 60, clock: { clock.now })
        for _ in 0..<3 { #expect(limiter.take("a") == nil) }
        // Empty: one token comes back every 20 s.
        let wait = limiter.take("a")
        #expect(wait != nil && abs(wait! - 20) < 1e-9)
        clock.advance(19)
        #expect(limiter.take("a").map { abs($0 - 1) < 1e-9 } == true)
        clock.advance(1)
        #expect(limiter.take("a") == nil)
        #expect(limiter.take("a") != nil)
    }

    @Test func keysAreIndependent() {
        let clock = SecondsClock()
        let limiter = RateLimiter<String>(capacity: 1, period: 60, clock: { clock.now })
        #expect(limiter.take("a") == nil)
        #expect(limiter.take("a") != nil)
        #expect(limiter.take("b") == nil)
    }

    @Test func aBucketNeverFillsPastItsCapacity() {
        let clock = SecondsClock()
        let limiter = RateLimiter<String>(capacity: 2, period: 60, clock: { clock.now })
        #expect(limiter.take("a") == nil)
        clock.advance(3_600)
        limiter.refund("a")
        for _ in 0..<2 { #expect(limiter.take("a") == nil) }
        #expect(limiter.take("a") != nil)
    }

    @Test func aRefundGivesBackOneToken() {
        let clock = SecondsClock()
        let limiter = RateLimiter<String>(capacity: 1, period: 60, clock: { clock.now })
        #expect(limiter.take("a") == nil)
        limiter.refund("a")
        #expect(limiter.take("a") == nil)
        #expect(limiter.take("a") != nil)
        // A refund for a key it does not hold creates nothing.
        limiter.refund("z")
        #expect(!limiter.holds("z"))
    }

    @Test func whenFullTheLeastRecentlyUsedKeyGoesAndTheOthersKeepTheirLimits() {
        let clock = SecondsClock()
        let limiter = RateLimiter<String>(capacity: 1, period: 60, maximumKeys: 3, clock: { clock.now })
        #expect(limiter.take("a") == nil)
        #expect(limiter.take("b") == nil)
        #expect(limiter.take("c") == nil)
        #expect(limiter.take("a") != nil)  // a is now the most recently used, and empty
        #expect(limiter.take("d") == nil)  // pushes out b, the least recently used
        #expect(limiter.count == 3)
        #expect(!limiter.holds("b") && limiter.holds("a") && limiter.holds("c") && limiter.holds("d"))
        #expect(limiter.take("a") != nil)  // still limited: not reset by the newcomer
        #expect(limiter.take("c") != nil)
    }

    @Test func manyNewKeysCannotResetAnAttackersBucket() {
        let clock = SecondsClock()
        let limiter = RateLimiter<String>(capacity: 1, period: 60, maximumKeys: 1_000, clock: { clock.now })
        #expect(limiter.take("attacker") == nil)
        for index in 0..<998 { #expect(limiter.take("fresh \(index)") == nil) }
        // The table is full now; the attacker is used again, so it is not the one evicted.
        #expect(limiter.take("attacker") != nil)
        // 998 newcomers push out the 997 idle keys that are older than it, and not the attacker,
        // which stays limited (a table that started over when full would have forgiven it).
        for index in 998..<1_996 { #expect(limiter.take("fresh \(index)") == nil) }
        #expect(limiter.count == 1_000)
        #expect(limiter.holds("attacker") && !limiter.holds("fresh 996") && limiter.holds("fresh 997"))
        #expect(limiter.take("attacker") != nil)
    }

    @Test func aTableOfAHundredThousandKeysStaysFastWhenFull() {
        let clock = SecondsClock()
        let limiter = RateLimiter<Int>(capacity: 1, period: 60, maximumKeys: 100_000, clock: { clock.now })
        // 300,000 takes: two thirds of them evict. O(1) each keeps this well under a second
        // even in a debug build; a scan per eviction would take minutes.
        let start = ContinuousClock.now
        for key in 0..<300_000 { _ = limiter.take(key) }
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(limiter.count == 100_000 && limiter.holds(299_999) && !limiter.holds(199_999))
    }
}

@Suite(.ownThreads) struct ClientAddressTests {
    let proxies = ClientAddress(trusted: [AddressRange("10.0.0.0/8")!, AddressRange("fd00::/8")!])

    @Test func addressRangesParseAndContain() {
        #expect(AddressRange("10.0.0.0/8")?.description == "10.0.0.0/8")
        #expect(AddressRange("192.0.2.7")?.description == "192.0.2.7/32")
        #expect(AddressRange("fd00::/8")?.description == "fd00::/8")
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "/8", "10.0.0/8", "nonsense", "10.0.0.0/8/8", "::/+1"] {
            #expect(AddressRange(bad) == nil, "\(bad)")
        }
        let range = AddressRange("10.0.0.0/8")!
        #expect(range.contains(AddressRange.bytes(of: "10.200.1.1")!))
        #expect(range.contains(AddressRange.bytes(of: "::ffff:10.0.0.1")!))
        #expect(!range.contains(AddressRange.bytes(of: "11.0.0.1")!))
    }

    @Test func theHeaderIsReadOnlyFromATrustedPeer() {
        #expect(proxies.resolve(peer: "192.0.2.1", forwardedFor: ["198.51.100.1"]) == "192.0.2.1")
        #expect(proxies.resolve(peer: "10.1.1.1", forwardedFor: ["198.51.100.1"]) == "198.51.100.1")
        #expect(proxies.resolve(peer: "10.1.1.1", forwardedFor: []) == "10.1.1.1")
    }

    @Test func theRightMostUntrustedEntryIsTheClient() {
        #expect(
            proxies.resolve(peer: "10.1.1.1", forwardedFor: ["203.0.113.5, 198.51.100.1, 10.2.2.2"]) == "198.51.100.1")
        #expect(
            proxies.resolve(peer: "10.1.1.1", forwardedFor: ["203.0.113.5", "198.51.100.1, 10.2.2.2"]) == "198.51.100.1"
        )
        // Every entry a proxy: the left-most is as far as we can see.
        #expect(proxies.resolve(peer: "10.1.1.1", forwardedFor: ["10.3.3.3, 10.2.2.2"]) == "10.3.3.3")
        // Something that is not an address where the client should be: the peer.
        #expect(proxies.resolve(peer: "10.1.1.1", forwardedFor: ["evil, 10.2.2.2"]) == "10.1.1.1")
        // A port some proxies add is dropped, not taken for garbage.
        #expect(proxies.resolve(peer: "10.1.1.1", forwardedFor: ["198.51.100.1:5555, 10.2.2.2"]) == "198.51.100.1")
        #expect(proxies.resolve(peer: "10.1.1.1", forwardedFor: ["[2001:db8::1]:443"]) == "2001:db8::/64")
        // IPv6 clients count by their /64.
        #expect(proxies.resolve(peer: "fd00::1", forwardedFor: ["2001:db8::1"]) == "2001:db8::/64")
        #expect(proxies.resolve(peer: "2001:db8:0:1:aaaa::1", forwardedFor: []) == "2001:db8:0:1::/64")
        #expect(proxies.resolve(peer: "::ffff:192.0.2.1", forwardedFor: []) == "192.0.2.1")
        // Only ::ffff:0:0/96 is IPv4: the same four bytes after other prefixes stay IPv6.
        #expect(proxies.resolve(peer: "::192.0.2.1", forwardedFor: []) == "::/64")
        #expect(proxies.resolve(peer: "2001:db8::ffff:c000:201", forwardedFor: []) == "2001:db8::/64")
    }

    @Test func wrongPasswordsCountAnIPv6ClientByItsSlash48() {
        let site = { (peer: String) in
            AddressRange.siteKey(ofClient: self.proxies.resolve(peer: peer, forwardedFor: []))
        }
        #expect(site("2001:db8:aa:ff00:1::1") == "2001:db8:aa::/48")
        #expect(site("2001:db8:aa:1::1") == site("2001:db8:aa:ffff::2"))
        #expect(site("2001:db8:aa::1") != site("2001:db8:ab::1"))
        // IPv4 clients, mapped ones too, and what is no address stay as they are.
        #expect(site("192.0.2.1") == "192.0.2.1")
        #expect(site("::ffff:192.0.2.1") == "192.0.2.1")
        #expect(AddressRange.siteKey(ofClient: "unknown") == "unknown")
        #expect(AddressRange.siteKey(ofClient: "nonsense/64") == "nonsense/64")
    }

    /// The request path reads the peer from its socket address; the answer must be the one its
    /// text gives (the reference, through `inet_pton`), and the header is not asked for unless
    /// the peer is a proxy.
    @Test func aSocketAddressResolvesAsItsText() throws {
        // IPv4, IPv6, IPv4-mapped; what only looks mapped (the same last four bytes elsewhere,
        // IPv4-compatible, all zeros), a zone id; trusted and untrusted peers of each kind.
        let peers = [
            "192.0.2.1", "10.1.1.1", "0.0.0.0", "255.255.255.255", "100.10.1.0", "9.99.199.250", "2001:db8::1",
            "2001:db8:0:1:aaaa::1", "fd00::1", "::1", "::ffff:192.0.2.1", "::ffff:10.0.0.1",
            "2001:db8::ffff:c000:201", "::192.0.2.1", "::", "fe80::1%lo",
        ]
        for peer in peers {
            let address = try SocketAddress(ipAddress: peer, port: 443)
            // What the request path read before: NIO's text of the socket's address.
            let text = try #require(address.ipAddress)
            let headers = [
                [], ["198.51.100.1"], ["203.0.113.5, 10.2.2.2"], ["[2001:db8::1]:443"], ["evil"], ["2001:db8::7"],
            ]
            for header in headers {
                var asked = false
                let resolved = proxies.resolve(
                    peer: address,
                    forwardedFor: {
                        asked = true
                        return header
                    })
                #expect(resolved == proxies.resolve(peer: text, forwardedFor: header), "\(peer) \(header)")
                let trusted = proxies.isTrusted(try #require(AddressRange.bytes(of: text)))
                #expect(asked == trusted, "\(peer)")
            }
        }
        let socket = try SocketAddress(unixDomainSocketPath: "/tmp/authd.sock")
        #expect(proxies.resolve(peer: socket, forwardedFor: { ["198.51.100.1"] }) == "unknown")
        #expect(proxies.resolve(peer: nil, forwardedFor: { ["198.51.100.1"] }) == "unknown")
    }

    /// IPv4 text is written without `inet_ntop`: pinned to it here, over every value a byte
    /// takes in each place.
    @Test func anIPv4AddressIsWrittenAsInetNtopWritesIt() {
        func reference(_ bytes: [UInt8]) -> String {
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            _ = bytes.withUnsafeBytes { inet_ntop(AF_INET, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
            return String(cString: buffer)
        }
        for byte in UInt8.min...UInt8.max {
            for place in 0..<4 {
                var bytes: [UInt8] = [192, 0, 2, 1]
                bytes[place] = byte
                #expect(AddressRange.text(of: bytes) == reference(bytes))
            }
        }
    }
}
