import HTTPTypes
import NIOHTTP1
import TestSupport
import Testing

@testable import AuthHTTP

/// The fast paths read a request's head before its conversion to HTTP types; what they read
/// must be what the slow path reads after it. Both helpers are held to HTTP types' own answers.
@Suite(.ownThreads) struct HTTPHeadersFastPathsTests {
    /// `isKeptAsIs` says yes exactly when HTTP types keep a value unchanged: every byte, first,
    /// inside and last, in values of one to three bytes, and at every place inside a long one.
    @Test func aValueIsKeptAsIsExactlyWhenHTTPTypesKeepIt() {
        for byte in UInt8.min...UInt8.max {
            for bytes in [[byte], [0x61, byte], [byte, 0x61], [0x61, byte, 0x62]] {
                let value = String(decoding: bytes, as: UTF8.self)
                let kept = HTTPField(name: .authorization, value: value).value == value
                #expect(HTTPHeaders.isKeptAsIs(value) == kept, "\(bytes)")
            }
        }
        // Inside a value as long as a short token, at every place: the check runs in blocks
        // of bytes, and a bad byte must be found in a block as in what is left after them.
        for byte in UInt8.min...UInt8.max {
            for place in 1..<99 {
                var bytes = [UInt8](repeating: 0x61, count: 100)
                bytes[place] = byte
                let value = String(decoding: bytes, as: UTF8.self)
                let kept = HTTPField(name: .authorization, value: value).value == value
                #expect(HTTPHeaders.isKeptAsIs(value) == kept, "\(byte) at \(place)")
            }
        }
        #expect(HTTPHeaders.isKeptAsIs(""))
        #expect(HTTPHeaders.isKeptAsIs("Bearer a.b.c"))
        #expect(!HTTPHeaders.isKeptAsIs("Bearer a.b.c "))
    }

    /// `name(_:is:)` matches as HTTP types match a name made from the same text.
    @Test func aNameMatchesAsHTTPTypesMatchIt() throws {
        let names: [HTTPField.Name] = [
            .authorization, .contentLength, .connection, .requestID, .authlogMinPosition, .transferEncoding, .expect,
        ]
        let given = [
            "Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn", "Authorizatio", "Authorizations",
            "Content-Length", "content-length", "Content_Length", "Content-Lengtm", "Connection", "CONNECTION",
            "X-Request-ID", "x-request-id", "X-Request-Id", "X-Request-1D", "Authlog-Min-Position",
            "authlog-min-position", "Authlog-Min-Positio", "Transfer-Encoding", "TRANSFER-encoding", "Expect",
            "expecT", "Expecs", "X-Forwarded-For", "Host",
        ]
        for text in given {
            let parsed = try #require(HTTPField.Name(text))
            for name in names {
                #expect(HTTPHeaders.name(text, is: name) == (parsed == name), "\(text) against \(name)")
            }
        }
        // The letters' case only: CR is `-` with the case bit set, and is still not `-`.
        #expect(!HTTPHeaders.name("Content\rLength", is: .contentLength))
    }
}
