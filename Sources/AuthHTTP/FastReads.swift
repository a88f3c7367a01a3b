import AuthDomain
import DataProtection
import Dispatch
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The two hottest reads, `GET /v1/users/me` and `GET /v1/users/{id}`, answered on the
/// connection's event loop instead of through Hummingbird's router and its hop to the
/// concurrency pool and back (most of a read's cost: docs/architecture.md, "Fast reads").
///
/// Rules:
/// - Only a request in its plain form is taken: `GET`, the path exactly `/v1/users/me` or
///   `/v1/users/` and 36 characters of hex digits and hyphens, no query, no body (neither
///   Content-Length nor Transfer-Encoding), no `Connection`, `Upgrade` or
///   `Authlog-Min-Position` field,
///   at most one Authorization and one X-Request-ID, each a value HTTP types keep as it is.
///   Anything else goes to Hummingbird unchanged.
/// - The head is read as NIO's decoder gave it, never converted to HTTP types, and the answer
///   is written as NIO's encoder takes it: a fast read pays for neither conversion
///   (docs/performance.md, "Fast paths before the conversion to HTTP types").
/// - The answer is the route's own code (``AuthServer/ownUser(authorization:)`` and
///   ``AuthServer/user(_:authorization:asOf:)``), so the checks are the same ones: the token,
///   the session, `tokens_valid_after`, the read rules.
/// - Only a 200 is sent from here. A refusal or a failure sends the request on to
///   Hummingbird, which answers it again from the start: problems have one writer.
/// - An answer has the slow path's fields in the slow path's order (Content-Type,
///   Content-Length, X-Request-ID, Date, Server) and is counted and logged as the slow path
///   counts and logs it; `authlog_http_fast_reads_total` counts the reads answered here.
/// - Answers keep the order of requests: while a request passed to Hummingbird is unanswered,
///   the connection's later requests go to Hummingbird too.
/// - Nothing here may wait or be made costly by a caller: only an access token already
///   verified (in ``VerifiedTokenCache``) is taken, so no signature is checked and no key
///   reloaded on the event loop; a service credential goes the slow way. Data keys are looked
///   up at hand only (``DataKeyLookup``): on a cluster node, a user whose key is not in memory
///   yet goes the slow way, which fetches it from PostgreSQL off the event loop.
/// - A connection whose answers are not being read (not writable) is left to Hummingbird,
///   whose back-pressure stops reading it: the fast path never queues answers without bound.
///
/// `FastReadsTests` pins every answer of this path to the slow path's answer to the same request.
struct FastReads: Sendable {
    let server: AuthServer

    static let ownRoute = "/v1/users/me"
    static let userRoute = "/v1/users/{id}"
    private static let usersPrefix = Array("/v1/users/".utf8)

    /// What ``answer(_:allocator:)`` needs of a request this path takes, read in one pass
    /// over its fields.
    struct Taken {
        var route: String
        var path: String
        var authorization: String?
        var requestID: String?
    }

    /// The request (its head) if this path takes it (the first rule), else nil. A field read
    /// here that comes twice sends the request the slow way too (which joins the values).
    func take(_ head: HTTPRequestHead) -> Taken? {
        // An origin-form target is the path HTTP types would give the slow path; any other form
        // fails the route's check.
        guard head.method == .GET, let route = Self.route(of: head.uri) else { return nil }
        var taken = Taken(route: route, path: head.uri)
        for (name, value) in head.headers {
            if HTTPHeaders.name(name, is: .authorization) {
                guard taken.authorization == nil, HTTPHeaders.isKeptAsIs(value) else { return nil }
                taken.authorization = value
            } else if HTTPHeaders.name(name, is: .requestID) {
                guard taken.requestID == nil, HTTPHeaders.isKeptAsIs(value) else { return nil }
                taken.requestID = value
            } else if HTTPHeaders.name(name, is: .contentLength) || HTTPHeaders.name(name, is: .transferEncoding)
                || HTTPHeaders.name(name, is: .connection) || HTTPHeaders.name(name, is: .authlogMinPosition)
                || HTTPHeaders.name(name, is: .upgrade)
            {
                return nil
            }
        }
        return taken
    }

    /// The route of a plain path (`ownRoute` or `userRoute`), or nil.
    static func route(of path: String) -> String? {
        var path = path
        return path.withUTF8 { utf8 in
            guard utf8.starts(with: usersPrefix) else { return nil }
            let rest = UnsafeBufferPointer(rebasing: utf8[usersPrefix.count...])
            if rest.elementsEqual("me".utf8) { return ownRoute }
            guard rest.count == 36 else { return nil }
            for byte in rest {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                    UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: "-"):
                    continue
                default: return nil
                }
            }
            return userRoute
        }
    }

    /// The 200 answer to a request ``take(_:)`` took, or nil when the route refuses it or
    /// fails (the slow path then answers).
    func answer(_ taken: Taken, allocator: ByteBufferAllocator) -> (HTTPResponseHead, ByteBuffer)? {
        let start = DispatchTime.now().uptimeNanoseconds
        let route = taken.route
        let user: UserState
        do {
            user = try DataKeyLookup.withKeysAtHandOnly {
                if route == Self.ownRoute {
                    return try server.ownUser(authorization: taken.authorization, cachedOnly: true)
                }
                return try server.user(
                    String(taken.path.utf8.dropFirst(Self.usersPrefix.count))!, authorization: taken.authorization,
                    asOf: nil, cachedOnly: true)
            }
        } catch {
            return nil
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(400)
        UserJSON.write(user, to: &bytes)
        var body = allocator.buffer(capacity: bytes.count)
        body.writeBytes(bytes)
        let requestID = server.requestIDs.correlationID(client: taken.requestID)
        // The names as HTTP types spell them, which the slow path's conversion writes. No
        // value is checked on the way out (Hummingbird turns NIO's check off, HTTP types' is
        // skipped here): the client's request id is echoed only in the characters
        // `RequestIDs.isAcceptableClientID` allows, and every other value is made here.
        let fields = HTTPHeaders([
            (HTTPField.Name.contentType.rawName, "application/json"),
            (HTTPField.Name.contentLength.rawName, String(bytes.count)),
            (HTTPField.Name.requestID.rawName, requestID),
            (HTTPField.Name.date.rawName, HTTPDate.now()),
            (HTTPField.Name.server.rawName, AuthServer.serverName),
        ])
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        server.metrics.record(method: "GET", route: route, status: 200, seconds: seconds)
        server.fastReadCount.add(1, ordering: .relaxed)
        server.logger.debug(
            "request",
            metadata: [
                "request_id": "\(requestID)", "method": "GET", "route": "\(route)", "status": "200",
                "ms": "\(Int(seconds * 1_000))",
            ])
        return (HTTPResponseHead(version: .http1_1, status: .ok, headers: fields), body)
    }
}

/// The `Date` field's value (RFC 9110's IMF-fixdate), made once a second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func now() -> String {
        let second = time(nil)
        return cache.withLock { cache in
            if cache.second != second { cache = (second, text(second)) }
            return cache.text
        }
    }

    /// `second` (Unix time) as IMF-fixdate: `Wed, 02 Dec 2026 13:18:28 GMT`.
    static func text(_ second: Int) -> String {
        var clock = second
        var parts = tm()
        gmtime_r(&clock, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
