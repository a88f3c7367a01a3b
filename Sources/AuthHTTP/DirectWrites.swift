import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Refresh-token rotations (`POST /v1/sessions/refresh`), the hottest write, handed to the
/// router by the connection's own handler (``FastRouteHandler``) instead of through
/// Hummingbird's per-connection loop of async sequences (docs/architecture.md, "Direct writes").
///
/// Rules:
/// - Only a request in its plain form is taken: `POST`, the path exactly
///   `/v1/sessions/refresh`, one Content-Length of 1 to ``AuthServer/bodyLimit`` bytes, no
///   Transfer-Encoding, `Connection`, `Expect`, `Upgrade` or `Authlog-Min-Position` field.
///   Anything else goes to Hummingbird unchanged.
/// - The answer is the router's own: the router's middleware, as registered on it (request
///   id, client address, problems, metrics, the log line), around the route's own handler,
///   given the body whole. Only the router's look-up of the route is left out: this path
///   serves one route. The route runs once, so every answer is sent from here, refusals too.
/// - The fields Hummingbird's server adds are added as it adds them: Date, then Server. A body
///   the route wrote without a length is sent with its length (Hummingbird would send it in
///   chunks); the route taken here gives every body a length.
/// - `authlog_http_direct_writes_total` counts the requests answered this way.
///
/// `DirectWritesTests` pins every answer of this path to the slow path's answer to the same
/// request.
struct DirectWrites: Sendable {
    let server: AuthServer
    /// The router's middleware around the route's handler (``AuthServer/writing(_:)``).
    let responder: any HTTPResponder<AuthRequestContext>

    /// For `router`, the router ``AuthServer/router()`` built, its middleware all added.
    init(server: AuthServer, router: Router<AuthRequestContext>) {
        self.server = server
        self.responder = router.middlewares.constructResponder(
            finalResponder: CallbackResponder(callback: server.writing(server.rotateRefreshToken)))
    }

    static let refreshRoute = "/v1/sessions/refresh"

    /// The request, converted to HTTP types as Hummingbird's codec converts it, and the body's
    /// length, if this path takes the request (the first rule); else nil.
    func take(_ head: HTTPRequestHead) -> (HTTPRequest, length: Int)? {
        guard head.method == .POST, head.uri == Self.refreshRoute else { return nil }
        var length: Int?
        for (name, value) in head.headers {
            if HTTPHeaders.name(name, is: .contentLength) {
                guard length == nil, let value = Int(value), value > 0, value <= AuthServer.bodyLimit else {
                    return nil
                }
                length = value
            } else if HTTPHeaders.name(name, is: .transferEncoding) || HTTPHeaders.name(name, is: .connection)
                || HTTPHeaders.name(name, is: .expect) || HTTPHeaders.name(name, is: .authlogMinPosition)
                || HTTPHeaders.name(name, is: .upgrade)
            {
                return nil
            }
        }
        guard let length else { return nil }
        return (Self.request(head), length)
    }

    /// What `HTTP1ToHTTPServerCodec(secure: false)` makes of a head ``take(_:)`` took, for the
    /// slow path, made without its general steps: the method is POST and the URI the route's
    /// path exactly, so the codec's method conversion and its parse of the URI (which keeps a
    /// URI with no scheme as it is) are known beforehand. `DirectWritesTests` pins the two.
    static func request(_ head: HTTPRequestHead) -> HTTPRequest {
        HTTPRequest(
            method: .post, scheme: "http", authority: head.headers["Host"].first, path: refreshRoute,
            headerFields: HTTPFields(head.headers, splitCookie: false))
    }

    /// The router's answer to a request ``take(_:)`` took, with its whole body: the response
    /// head and the body to write; nil when the body could not be made (the connection is then
    /// closed, as Hummingbird closes it when a body fails half-way).
    func answer(_ head: HTTPRequest, body: ByteBuffer, channel: any Channel) async -> (HTTPResponseHead, ByteBuffer)? {
        let request = Request(head: head, body: RequestBody(buffer: body))
        let context = AuthRequestContext(source: .init(channel: channel, logger: server.logger))
        // What the router records of the route it found.
        context.coreContext.endpointPath.value = Self.refreshRoute
        var response: Response
        do {
            response = try await responder.respond(to: request, context: context)
        } catch {
            // As Hummingbird answers an error no middleware turned into an answer.
            server.logger.debug("unrecognised error", metadata: ["error.type": "\(error)"])
            response = Response(status: .internalServerError, body: .init())
        }
        response.headers[.date] = HTTPDate.now()
        response.headers[.server] = AuthServer.serverName
        let collected = CollectedBody(channel.allocator.buffer(capacity: response.body.contentLength ?? 512))
        do {
            try await response.body.write(collected)
        } catch {
            server.logger.error("writing a response body failed", metadata: ["error": "\(type(of: error))"])
            return nil
        }
        if !response.headers.contains(.contentLength) {
            response.headers[.contentLength] = String(collected.buffer.readableBytes)
        }
        // As the codec converts the slow path's answer.
        return (
            HTTPResponseHead(HTTPResponse(status: response.status, headerFields: response.headers)), collected.buffer
        )
    }
}

/// A response body gathered into one buffer. Used by one task at a time.
private final class CollectedBody: ResponseBodyWriter {
    var buffer: ByteBuffer

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    func write(_ part: ByteBuffer) async throws {
        buffer.writeImmutableBuffer(part)
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
