import AuthDomain
import AuthService
import EventLog
import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    /// On a write's response: the log position its answer rests on (see ``PositionReceipt``).
    static let authlogPosition = HTTPField.Name("Authlog-Position")!
    /// On a read: serve it only once the read model has reached this position.
    static let authlogMinPosition = HTTPField.Name("Authlog-Min-Position")!
}

extension Problem {
    /// 503 with Retry-After: the read model did not reach the position a read asked for within
    /// ``AuthServer/Configuration/minimumPositionWait``.
    static func positionNotReached(_ target: UInt64, reached: UInt64) -> Problem {
        .unavailable(
            "position_not_reached",
            "this node's read model is at log position \(reached), not yet at \(target); retry later",
            retryAfter: 1)
    }
}

/// The progress of a read model that can only say where it is: its checkpoint, polled
/// (``PositionPolling``). What the server uses when it is given no ``ReadModelProgress``.
struct PolledCheckpoint: ReadModelProgress {
    let reads: any UserReads

    func position() throws -> UInt64 { try reads.checkpoint() }

    func waitForPosition(_ target: UInt64, timeout: Duration) async throws -> UInt64 {
        try await PositionPolling.wait(for: target, timeout: timeout) { try reads.checkpoint() }
    }
}

extension AuthServer {
    /// Registers a route that writes (every route that runs a command). Its answer carries
    /// `Authlog-Position`:
    /// - on every success (2xx): the last position the command appended, or the log's head
    ///   when it appended nothing (see ``PositionReceipt``);
    /// - on an error, when the command got as far as the log: a rejection that recorded an
    ///   event (`LoginFailed`, a reused refresh token) names that event's position, one that
    ///   recorded nothing the head it was decided at. A request refused before (malformed,
    ///   unauthenticated, throttled, busy) and a 500 carry none.
    /// - never on `invalid_credentials`: a wrong password records `LoginFailed` and an unknown
    ///   or deleted account records nothing, so the position would tell which addresses have
    ///   accounts. (A reset request, which answers the same for every address, is registered
    ///   with plain `on` and carries no position at all.)
    ///
    /// A write that sends `Authlog-Min-Position` waits for it first, as a read does (its token
    /// may name a session another node started).
    ///
    /// A success answers only once the read model has reached the position (at once on the
    /// embedded log, which folds it in the append's transaction; at most
    /// ``Configuration/minimumPositionWait`` for a read model that trails the log).
    func onWrite(
        _ router: Router<AuthRequestContext>, _ method: HTTPRequest.Method, _ path: String,
        _ handler: @escaping @Sendable (Request, AuthRequestContext) async throws -> Response
    ) {
        self.on(router, method, path, writing(handler))
    }

    /// `handler` as a write route runs it (the rules of ``onWrite(_:_:_:_:)``); also what
    /// ``DirectWrites`` runs.
    func writing(
        _ handler: @escaping @Sendable (Request, AuthRequestContext) async throws -> Response
    ) -> @Sendable (Request, AuthRequestContext) async throws -> Response {
        { request, context in
            // A write may name a position too: its caller's session may come from another node.
            try await self.awaitMinimumPosition(request)
            let receipt = PositionReceipt()
            var response: Response
            do {
                response = try await receipt.collecting { try await handler(request, context) }
            } catch {
                if receipt.position != nil { self.commits.notify() }  // a rejection that recorded an event
                var problem = Problem.from(error)
                guard let position = receipt.position, problem.status != .internalServerError,
                    problem.code != "invalid_credentials"
                else { throw error }
                problem.headers[.authlogPosition] = String(position)
                throw problem
            }
            if let position = receipt.position ?? (try? self.service.log.headPosition()) {
                _ = try? await self.progress.waitForPosition(position, timeout: self.configuration.minimumPositionWait)
                response.headers[.authlogPosition] = String(position)
            }
            self.commits.notify()
            return response
        }
    }

    /// Registers a read route that honours `Authlog-Min-Position` (see ``awaitMinimumPosition(_:)``).
    func onRead(
        _ router: Router<AuthRequestContext>, _ path: String,
        _ handler: @escaping @Sendable (Request, AuthRequestContext) async throws -> Response
    ) {
        self.on(router, .get, path) { request, context in
            try await self.awaitMinimumPosition(request)
            return try await handler(request, context)
        }
    }

    /// With `Authlog-Min-Position: N`, waits until the read model has reached log position N:
    /// at most ``Configuration/minimumPositionWait`` (2 s by default), then 503
    /// `position_not_reached` with Retry-After. The wait comes before the caller's token is
    /// checked, since that check reads the caller's state too (a token from a login at N names
    /// a session only a read model at N knows). N must be one decimal number, 0 to
    /// 18446744073709551615, else 400. Without the header the read is served as it is.
    func awaitMinimumPosition(_ request: Request) async throws {
        let values = request.headers[values: .authlogMinPosition]
        guard let text = values.first else { return }
        guard values.count == 1, let target = Self.position(parsing: text) else {
            throw Problem.badRequest(
                "Authlog-Min-Position must be one log position: a decimal number from 0 to \(UInt64.max)")
        }
        let reached = try await progress.waitForPosition(target, timeout: configuration.minimumPositionWait)
        guard reached >= target else { throw Problem.positionNotReached(target, reached: reached) }
    }

    /// A log position as a header gives it: ASCII digits only (no sign, space or leading
    /// `+`), at most 20 of them, within `UInt64`.
    static func position(parsing text: String) -> UInt64? {
        let digits = text.utf8
        guard (1...20).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return UInt64(text)
    }
}
