import AccessTokens
import AuthDomain
import AuthService
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import RequestJSON
import Synchronization

/// The request context: Hummingbird's core plus the client's address (for rate limits).
public struct AuthRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Names the request in logs and is the correlation id of the events it causes: made by
    /// the server, with the client's X-Request-ID beside it (``RequestIDs/correlationID(client:)``).
    public var requestID = ""
    /// Who the request comes from (see ``ClientAddress``): the key of rate limits.
    public var clientAddress = "unknown"

    public var maxUploadSize: Int { AuthServer.bodyLimit }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Everything authd serves, over one data directory.
public final class AuthServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// The access tokens' `iss`, and the discovery document's `issuer`; authd makes it the
        /// public URL unless given `--issuer`.
        public var issuer = "authlog"
        public var audience = "authlog"
        /// Access-token lifetime in seconds (15 minutes).
        public var accessTokenLifetime: Int64 = 900
        /// Requests a client address may make to login, refresh and reset confirmation per minute.
        public var rateLimitPerMinute = 60
        /// Where a separate listener serves `/metrics` (nil: none, and the public listener
        /// serves it). See ``metricsApplication()``.
        public var metricsHost = "127.0.0.1"
        public var metricsPort: Int?
        /// Registrations, and password-reset requests, a client address may make per minute.
        public var registrationRateLimitPerMinute = 10
        /// Verification mails one address may be sent on request per hour
        /// (`POST /v1/email-verifications`), whoever asks.
        public var verificationRequestsPerAccount = 3
        /// Password-reset requests one address may make per hour (`POST /v1/password-resets`),
        /// whoever asks: each mails a token and replaces the live one.
        public var resetRequestsPerAccount = 5
        /// Email-change requests (`POST /v1/users/me/email`) an hour that may name one new
        /// address, from all accounts together, and that one account may make: each mails the
        /// new address a confirmation and the old one a notice.
        public var emailChangesPerAddress = 3
        public var emailChangesPerAccount = 5
        /// Wrong passwords one client address may try on one account per 15 minutes.
        public var loginFailuresPerAddress = 10
        /// Wrong passwords all addresses together may try on one account per 15 minutes.
        public var loginFailuresPerAccount = 500
        /// Proxies whose X-Forwarded-For names the client (see ``ClientAddress``).
        public var trustedProxies: [AddressRange] = []
        /// Timeouts and caps on connections (see ``ConnectionLimits``).
        var connections = ConnectionLimits()
        /// Seconds a request's header may take to arrive, from its first byte.
        public var headerTimeout: Int64 {
            get { connections.headerTimeout.nanoseconds / 1_000_000_000 }
            set { connections.headerTimeout = .seconds(newValue) }
        }
        /// Seconds a request's body may take to arrive, from the end of its header.
        public var bodyTimeout: Int64 {
            get { connections.bodyTimeout.nanoseconds / 1_000_000_000 }
            set { connections.bodyTimeout = .seconds(newValue) }
        }
        /// Seconds a kept-alive connection may wait for its next request.
        public var idleTimeout: Int64 {
            get { connections.idleTimeout.nanoseconds / 1_000_000_000 }
            set { connections.idleTimeout = .seconds(newValue) }
        }
        /// Seconds a connection may stay unable to take more of its answers (its client not
        /// reading) before it is closed.
        public var writeTimeout: Int64 {
            get { connections.writeTimeout.nanoseconds / 1_000_000_000 }
            set { connections.writeTimeout = .seconds(newValue) }
        }
        /// Connections served at once; more wait to be accepted.
        public var maximumConnections: Int {
            get { connections.maximumConnections }
            set { connections.maximumConnections = newValue }
        }
        /// Connections one client address may hold open at once; more are closed at once.
        public var maximumConnectionsPerAddress: Int {
            get { connections.maximumPerAddress }
            set { connections.maximumPerAddress = newValue }
        }
        /// The longest a read with `Authlog-Min-Position` waits for the read model before 503
        /// `position_not_reached`; also the longest a write waits for the read model to reach
        /// its own position (it then answers as it would have: its command is committed).
        public var minimumPositionWait = Duration.seconds(2)
        /// The address clients reach authd at: the base of every link authd hands out (mail,
        /// discovery). By default `http://host:port`.
        public var publicURL = PublicURL(host: "127.0.0.1", port: 8080)
        /// Event streams (`/v1/events/stream`): the longest silence before a heartbeat, and how
        /// many may be open in all and from one client address (503 beyond).
        public var streamHeartbeat = Duration.seconds(15)
        public var maximumStreams = 256
        public var maximumStreamsPerAddress = 4
        public init() {}
    }

    /// Request bodies over this many bytes get 413 before they are read whole.
    public static let bodyLimit = 64 * 1024

    let configuration: Configuration
    let service: AuthService
    /// The read side (the projections in authd), behind the port the domain defines.
    let reads: any UserReads
    /// The storage's and the hashing pool's figures for the metrics page, read per render.
    let gauges: @Sendable () -> ServerGauges
    /// How far the read model has folded the log, and the wait for it (read-your-writes).
    let progress: any ReadModelProgress
    /// The log as a feed (`/v1/events`), read where the read model is; `nil`: those routes 404.
    let feed: (any EventFeed)?
    /// The admin console under `/admin`; `nil`: not served.
    let console: AdminConsole?
    /// The service credentials accepted as bearers (``principal(_:)``); `nil`: none.
    let credentials: (any ServiceCredentials)?
    /// Notified after every write this server makes: wakes event streams.
    public let commits = CommitSignal()
    let streams: StreamSlots
    let tokens: AccessTokenIssuer
    let verified = VerifiedTokenCache(capacity: 100_000)
    /// Per client address and route group: login, refresh, reset confirmation.
    let limiter: RateLimiter<String>
    /// Per client address and route: registration and reset requests.
    let registrations: RateLimiter<String>
    /// Wrong passwords per (account, client address), per (account, IPv6 site), and per account.
    let loginFailures: RateLimiter<AccountAddress>
    let siteFailures: RateLimiter<AccountAddress>
    let accountFailures: RateLimiter<TokenHash>
    /// The (account, client) pairs whose password was lately given right: spared the account's limit.
    let signedInClients = SignedInClients()
    /// Verification mail requests per address asked for (the digest of its lookup key).
    let verificationRequests: RateLimiter<TokenHash>
    let resetRequests: RateLimiter<TokenHash>
    /// Email-change requests by the new address's digest (``accountKey(_:)``), and by the
    /// digest of the asking user's id: see ``Configuration/emailChangesPerAddress``.
    let emailChangesTo: RateLimiter<TokenHash>
    let emailChangesBy: RateLimiter<TokenHash>
    let clients: ClientAddress
    let connectionCounts = ConnectionCounts()
    let metrics = Metrics()
    let requestIDs = RequestIDs()
    /// Reads answered by ``FastReads`` (`authlog_http_fast_reads_total`).
    let fastReadCount = Atomic<Int>(0)
    /// Writes answered by ``DirectWrites`` (`authlog_http_direct_writes_total`).
    let directWriteCount = Atomic<Int>(0)
    /// Ended console sessions whose log session ``endEndedConsoleSessions()`` handled
    /// (`authlog_console_sessions_ended_total`).
    let consoleSessionsEnded = Atomic<Int>(0)
    /// The `Server` field of every answer.
    static let serverName = "authd"
    let logger: Logger

    public init(
        configuration: Configuration, service: AuthService, reads: any UserReads,
        gauges: @escaping @Sendable () -> ServerGauges = { ServerGauges() },
        progress: (any ReadModelProgress)? = nil, feed: (any EventFeed)? = nil, console: AdminConsole? = nil,
        credentials: (any ServiceCredentials)? = nil, tokens: AccessTokenIssuer, logger: Logger
    ) {
        self.configuration = configuration
        self.service = service
        self.reads = reads
        self.gauges = gauges
        self.progress = progress ?? PolledCheckpoint(reads: reads)
        self.feed = feed
        self.console = console
        self.credentials = credentials
        self.streams = StreamSlots(
            total: configuration.maximumStreams, perAddress: configuration.maximumStreamsPerAddress)
        self.tokens = tokens
        self.limiter = RateLimiter(capacity: configuration.rateLimitPerMinute, period: 60)
        self.registrations = RateLimiter(capacity: configuration.registrationRateLimitPerMinute, period: 60)
        self.loginFailures = RateLimiter(
            capacity: configuration.loginFailuresPerAddress, period: Self.loginFailureWindow)
        self.siteFailures = RateLimiter(
            capacity: configuration.loginFailuresPerAddress * Self.siteFailuresPerAddressLimit,
            period: Self.loginFailureWindow)
        self.accountFailures = RateLimiter(
            capacity: configuration.loginFailuresPerAccount, period: Self.loginFailureWindow)
        self.verificationRequests = RateLimiter(
            capacity: configuration.verificationRequestsPerAccount, period: 60 * 60)
        self.resetRequests = RateLimiter(capacity: configuration.resetRequestsPerAccount, period: 60 * 60)
        self.emailChangesTo = RateLimiter(capacity: configuration.emailChangesPerAddress, period: 60 * 60)
        self.emailChangesBy = RateLimiter(capacity: configuration.emailChangesPerAccount, period: 60 * 60)
        self.clients = ClientAddress(trusted: configuration.trustedProxies)
        self.logger = logger
    }

    /// The router with every route of the contract (docs/openapi.yaml).
    public func router() -> Router<AuthRequestContext> {
        routeTable.withLock { $0.removeAll() }
        let router = Router(context: AuthRequestContext.self)
        router.add(middleware: ProblemMiddleware(server: self))
        addSessionRoutes(to: router)
        addUserRoutes(to: router)
        addAdministrationRoutes(to: router)
        addStripeRoutes(to: router)
        addPasswordChangeRoutes(to: router)
        addVerificationRequestRoutes(to: router)
        addEmailChangeRoutes(to: router)
        addEventRoutes(to: router)
        addMailPages(to: router)
        addConsoleRoutes(to: router)
        self.on(router, .get, "/.well-known/jwks.json") { _, _ in try self.json(self.tokens.keys.jwks) }
        addDiscoveryRoutes(to: router)
        self.on(router, .get, "/healthz") { _, _ in try self.json(["status": "ok"]) }
        if configuration.metricsPort == nil {
            self.on(router, .get, "/metrics") { _, _ in self.metricsResponse() }
        }
        return router
    }

    /// The application: serves until SIGTERM or SIGINT, then lets requests in flight finish.
    /// Connections are held to ``ConnectionLimits``; with a metrics port it runs the metrics
    /// listener beside it.
    public func application() -> some ApplicationProtocol {
        let (limits, counts, clients) = (configuration.connections, connectionCounts, self.clients)
        let router = router()
        let fastReads = FastReads(server: self)
        let directWrites = DirectWrites(server: self, router: router)
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in
                GuardedHTTP1Channel(
                    responder: responder, limits: limits, counts: counts, clients: clients, fastReads: fastReads,
                    directWrites: directWrites)
            },
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: Self.serverName,
                availableConnectionsDelegate: .maximum(limits.maximumConnections, logger: logger)),
            services: configuration.metricsPort == nil ? [] : [metricsApplication()],
            logger: logger)
    }

    // MARK: Helpers shared by the routes

    /// Every route the server registers, as `METHOD /path` (for the OpenAPI document's test).
    public var registeredRoutes: [String] { routeTable.withLock { $0 } }
    let routeTable = Mutex<[String]>([])

    /// Registers a route and records it in ``registeredRoutes``.
    func on(
        _ router: Router<AuthRequestContext>, _ method: HTTPRequest.Method, _ path: String,
        _ handler: @escaping @Sendable (Request, AuthRequestContext) async throws -> Response
    ) {
        routeTable.withLock { $0.append("\(method.rawValue) \(path)") }
        router.on(RouterPath(path), method: method, use: handler)
    }

    func json(_ object: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return json(bytes: data, status: status)
    }

    /// A JSON body already written.
    func json(bytes body: some Sequence<UInt8>, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The body as a flat JSON object with only `allowed` fields, after the content-type and
    /// size checks.
    func body(_ request: Request, allowed: Set<String>) async throws -> [String: JSONValue] {
        guard let type = request.headers.combined(.contentType), StrictJSON.isJSON(contentType: type) else {
            throw Problem.badRequest("the content type must be application/json")
        }
        if let length = request.headers.combined(.contentLength).flatMap(Int.init), length > Self.bodyLimit {
            throw HTTPError(.contentTooLarge)
        }
        let buffer = try await request.body.collect(upTo: Self.bodyLimit)
        do {
            return try StrictJSON.object(Array(buffer.readableBytesView), allowed: allowed)
        } catch let error as StrictJSONError {
            throw Problem.badRequest(error.description)
        }
    }

    func user(_ id: String?) throws -> UUID {
        guard let id, let uuid = UUID(text: id) else { throw Problem.notFound }
        return uuid
    }
}

/// Turns every thrown error into a problem response, counts requests, and logs one line per
/// request (method, route, status, time; never a body or a header value).
struct ProblemMiddleware: RouterMiddleware {
    let server: AuthServer

    func handle(
        _ request: Request, context: AuthRequestContext, next: (Request, AuthRequestContext) async throws -> Response
    ) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        var context = context
        let requestID = server.requestIDs.correlationID(client: request.headers[.requestID])
        context.requestID = requestID
        context.clientAddress = server.clients.resolve(
            peer: context.remoteAddress, forwardedFor: { request.headers[values: .xForwardedFor] })
        var response: Response
        var failure: String?
        do {
            response = try await next(request, context)
        } catch {
            failure = "\(type(of: error))"
            response = try Problem.from(error).response(from: request, context: context)
        }
        response.headers[.requestID] = requestID
        let route = context.endpointPath ?? "unmatched"
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let status = Int(response.status.code)
        server.metrics.record(method: request.method.rawValue, route: route, status: status, seconds: seconds)
        // One structured line per request: never a body, a query string or a header value.
        // Built only when it is logged (errors always, the rest at debug level).
        func metadata() -> Logger.Metadata {
            var metadata: Logger.Metadata = [
                "request_id": "\(requestID)", "method": "\(request.method.rawValue)", "route": "\(route)",
                "status": "\(status)", "ms": "\(Int(seconds * 1_000))",
            ]
            if status >= 500 { metadata["error"] = "\(failure ?? "none")" }
            return metadata
        }
        if status >= 500 {
            server.logger.error("request failed", metadata: metadata())
        } else {
            server.logger.debug("request", metadata: metadata())
        }
        return response
    }
}

extension HTTPField.Name {
    /// Names a request in logs and in the events it causes (their correlation id).
    static let requestID = HTTPField.Name("X-Request-ID")!
    /// The addresses a request passed through; read only from trusted proxies.
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    /// HTTP/1.0's cache switch, which RFC 6749 (section 5.1) still asks of token answers.
    static let pragma = HTTPField.Name("Pragma")!
}

/// Request ids for requests that bring none: a random prefix made at start and a counter, so
/// they are unique across restarts without a system call per request.
final class RequestIDs: Sendable {
    private let prefix = String(UUID().uuidString.lowercased().prefix(13))
    private let counter = Atomic<UInt64>(0)

    func next() -> String {
        let number = counter.add(1, ordering: .relaxed).newValue
        return prefix + String(number, radix: 16)
    }
}
