import NIOHTTP1
import Testing

@testable import AuthHTTP

/// RFC 9112 §3.2's Host rule, as `HTTPRequestHead+Host.swift` checks it.
@Suite(.ownThreads) struct HTTPRequestHeadHostTests {
    /// The byte test takes exactly RFC 3986's characters of a host and port, every byte tried
    /// against that set written out, and blanks only at either end.
    @Test func anAuthorityHoldsExactlyTheCharactersOfAHostAndPort() {
        let allowed = Set(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:[]".utf8)
        for byte in UInt8.min...UInt8.max {
            let value = String(decoding: [0x61, byte, 0x62], as: UTF8.self)
            #expect(HTTPRequestHead.isAuthority(value) == allowed.contains(byte), "\(byte)")
        }
        #expect(HTTPRequestHead.isAuthority(""))
        #expect(HTTPRequestHead.isAuthority(" \t[::1]:8080\t "))
        #expect(!HTTPRequestHead.isAuthority("a b"))
        #expect(!HTTPRequestHead.isAuthority("user@host"))
        // Blanks at either end only, however many, and a value of blanks alone.
        for value in [" ", "\t \t", " a", "a\t", "  127.0.0.1:8080", "127.0.0.1:8080 \t "] {
            #expect(HTTPRequestHead.isAuthority(value), "\(value.debugDescription)")
        }
        for value in [" a b ", "\ta\tb", "a \u{0B}", "\u{0B}a", "a\n", " [::1] @"] {
            #expect(!HTTPRequestHead.isAuthority(value), "\(value.debugDescription)")
        }
    }

    /// One Host line in any case for HTTP/1.1 and later, at most one for HTTP/1.0.
    @Test func headsNeedOneHostFromHTTP11() {
        func head(_ version: HTTPVersion, _ fields: [(String, String)]) -> HTTPRequestHead {
            HTTPRequestHead(version: version, method: .GET, uri: "/", headers: HTTPHeaders(fields))
        }
        #expect(!head(.http1_1, [("Host", "a")]).breaksTheHostRule)
        #expect(!head(.http1_1, [("hOsT", "a:1")]).breaksTheHostRule)
        #expect(head(.http1_1, []).breaksTheHostRule)
        #expect(head(.http1_1, [("Hosts", "a")]).breaksTheHostRule)
        #expect(head(.http1_1, [("Host", "a"), ("host", "a")]).breaksTheHostRule)
        #expect(head(HTTPVersion(major: 2, minor: 0), []).breaksTheHostRule)
        #expect(!head(.http1_0, []).breaksTheHostRule)
        #expect(head(.http1_0, [("Host", "a"), ("Host", "b")]).breaksTheHostRule)
        #expect(head(.http1_0, [("Host", "a/b")]).breaksTheHostRule)
    }
}
