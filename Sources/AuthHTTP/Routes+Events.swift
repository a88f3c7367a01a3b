import AuthDomain
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension AuthServer {
    /// The log as a feed: `GET /v1/events?after=POS&limit=N`, for readers
    /// ``ReadRules/feedAccess(role:)`` admits.
    func addEventRoutes(to router: Router<AuthRequestContext>) {
        self.onRead(router, "/v1/events") { request, context in
            let (feed, access) = try self.feedReader(request)
            let query = request.uri.queryParameters
            let after = try Self.feedPosition(query.get("after"), name: "after")
            let limit = query.get("limit").map { Int($0) ?? -1 } ?? 100
            guard (1...1_000).contains(limit) else { throw Problem.badRequest("limit must be 1 to 1000") }
            let head = try feed.head()
            let events = try feed.events(after: after, limit: limit, personal: access.includesPersonal)
            var body: [UInt8] = Array("{\"events\":[".utf8)
            body.reserveCapacity(events.count * 380)
            for (index, event) in events.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                event.writeJSON(to: &body)
            }
            body += Array("],\"head\":\(head),\"next_after\":\(events.last?.position ?? after)}".utf8)
            return self.json(bytes: body)
        }
        addEventStreamRoute(to: router)
    }

    /// The feed and what the caller may see of it: 401 without a valid token or credential,
    /// 403 for a caller ``ReadRules/feedAccess(role:)`` refuses (`insufficient_scope` for a
    /// credential ``ReadRules/feedAccess(scopes:)`` refuses), 404 when this server has no feed.
    func feedReader(_ request: Request) throws -> (any EventFeed, FeedAccess) {
        let access = try feedAccess(of: try self.principal(request))
        guard let feed else { throw Problem(.notFound, "not_found", "this server serves no event feed") }
        return (feed, access)
    }

    /// What `principal` may read of the feed, or the refusal.
    func feedAccess(of principal: Principal) throws -> FeedAccess {
        switch principal {
        case .user(let caller):
            guard let access = ReadRules.feedAccess(role: caller.role) else { throw Rejection.forbidden }
            return access
        case .credential(let credential):
            guard let access = ReadRules.feedAccess(scopes: credential.scopes) else {
                throw Rejection.insufficientScope
            }
            return access
        }
    }

    /// A position given in a query or header: absent is 0; else decimal digits within `UInt64`.
    static func feedPosition(_ text: String?, name: String) throws -> UInt64 {
        guard let text else { return 0 }
        guard let position = Self.position(parsing: text) else {
            throw Problem.badRequest("\(name) must be a log position: a decimal number from 0 to \(UInt64.max)")
        }
        return position
    }
}

extension AuthServer {
    /// How often a stream looks at the log without being woken: writes this server did not
    /// make (authctl, another node's, copied by this node) reach streams within it.
    static let streamPollInterval = Duration.milliseconds(250)

    /// `GET /v1/events/stream`: the feed as Server-Sent Events (see docs/openapi.yaml).
    ///
    /// Rules:
    /// - Each event is one message: `id:` its position, `event:` its type, `data:` the feed's
    ///   JSON object on one line. It starts after `Last-Event-ID` (or `after`; 0 without).
    /// - A write this server makes wakes every stream at once; other writes are seen within
    ///   ``streamPollInterval``. A comment line is sent after
    ///   ``Configuration/streamHeartbeat`` without an event.
    /// - The caller is checked again once ``Configuration/streamHeartbeat`` has passed since the
    ///   last check, before the next events or heartbeat are sent, so also while events keep
    ///   coming: a stream ends once their token expires or their session or role no longer
    ///   lets them read the feed, or once their credential is revoked (or would now read
    ///   another part of it).
    /// - At most ``Configuration/maximumStreams`` streams in all and
    ///   ``Configuration/maximumStreamsPerAddress`` per client address: beyond, 503 `too_many_streams`
    ///   with Retry-After.
    func addEventStreamRoute(to router: Router<AuthRequestContext>) {
        self.onRead(router, "/v1/events/stream") { request, context in
            let (feed, access) = try self.feedReader(request)
            let resume = request.headers[values: .lastEventID]
            guard resume.count <= 1 else { throw Problem.badRequest("give one Last-Event-ID") }
            let start = try Self.feedPosition(
                resume.first ?? request.uri.queryParameters.get("after"), name: "Last-Event-ID (or after)")
            guard let slot = self.streams.take(for: context.clientAddress) else {
                throw Problem.unavailable(
                    "too_many_streams", "too many event streams are open; retry later", retryAfter: 5)
            }
            let body = ResponseBody { writer in
                defer { slot.release() }
                try await self.stream(feed, access: access, after: start, request: request, to: &writer)
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                body: body)
        }
    }

    func stream(
        _ feed: any EventFeed, access: FeedAccess, after start: UInt64, request: Request,
        to writer: inout any ResponseBodyWriter
    ) async throws {
        let personal = access.includesPersonal
        let clock = ContinuousClock()
        var after = start
        var lastSent = clock.now
        var lastChecked = clock.now
        try await writer.write(ByteBuffer(string: "retry: 1000\n: authlog events after \(after)\n\n"))
        while !Task.isCancelled {
            if clock.now - lastChecked >= configuration.streamHeartbeat {
                guard (try? self.feedAccess(of: try self.principal(request))) == access else { break }
                lastChecked = clock.now
            }
            let generation = commits.generation
            let events = try feed.events(after: after, limit: 1_000, personal: personal)
            if !events.isEmpty {
                var text: [UInt8] = []
                text.reserveCapacity(events.count * 400)
                for event in events {
                    text += Array("id: \(event.position)\nevent: \(event.type)\ndata: ".utf8)
                    event.writeJSON(to: &text)
                    text += [0x0A, 0x0A]
                }
                try await writer.write(ByteBuffer(bytes: text))
                after = events.last!.position
                lastSent = clock.now
                continue
            }
            if clock.now - lastSent >= configuration.streamHeartbeat {
                try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                lastSent = clock.now
            }
            let untilHeartbeat = configuration.streamHeartbeat - (clock.now - lastSent)
            await commits.wait(after: generation, timeout: min(Self.streamPollInterval, max(untilHeartbeat, .zero)))
        }
        try await writer.finish(nil)
    }
}

extension HTTPField.Name {
    /// Where a reconnecting event stream resumes: the last position it received.
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}
