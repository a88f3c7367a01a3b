import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import Synchronization

/// Limits on connections, against clients that open many or send slowly (slow-loris).
///
/// Rules:
/// - A request's header must arrive whole within `headerTimeout` of its first byte (or of the
///   connection opening, for the first request); its body within `bodyTimeout` of the header.
/// - A kept-alive connection with no request under way is closed after `idleTimeout`.
/// - A connection that cannot take more of its answers (NIO holds more unsent than its
///   high-water mark, 64 KiB, so the answer being written, an event stream's too, waits) and
///   sends none of them out for `writeTimeout` is closed: the client stopped reading. Without
///   it, a client that sends many requests and reads nothing would hold the connection, and
///   its place under the caps, for as long as it liked. One that reads, however slowly, is
///   not closed by it.
/// - No more than `maximumConnections` are served at once: beyond that the server stops
///   accepting, and new connections wait in the kernel's queue until one closes. (The count
///   is checked between rounds of accepting, so a burst taken in one round may pass it by a
///   few; keep it some way below the open-file limit, as the default does.)
/// - One client address (an IPv6 one by its /64) holds at most `maximumPerAddress` of them; a connection beyond that is
///   closed as soon as it is accepted. Trusted proxies are exempt (every client behind them
///   shares their address); the total cap still holds.
/// - A connection closed by a timeout or a cap gets no response: it has not sent a request a
///   response could answer.
struct ConnectionLimits: Sendable {
    var headerTimeout: TimeAmount = .seconds(10)
    var bodyTimeout: TimeAmount = .seconds(30)
    var idleTimeout: TimeAmount = .seconds(60)
    var writeTimeout: TimeAmount = .seconds(30)
    var maximumConnections = 1_024
    var maximumPerAddress = 64
}

/// Connections open now per client address, across event loops.
final class ConnectionCounts: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    /// Counts one more connection from `address`, unless it already has `limit`.
    func open(_ address: String, limit: Int) -> Bool {
        counts.withLock { counts in
            let now = counts[address, default: 0]
            guard now < limit else { return false }
            counts[address] = now + 1
            return true
        }
    }

    func close(_ address: String) {
        counts.withLock { counts in
            let now = counts[address, default: 1] - 1
            counts[address] = now > 0 ? now : nil
        }
    }
}

/// The HTTP/1 child channel with ``ConnectionLimits`` applied: a handler in front of the
/// HTTP decoder sees the bytes arrive, one behind it sees requests and responses begin and end;
/// both move one timer per connection.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let responder: HTTPChannelHandler.Responder
    let limits: ConnectionLimits
    let counts: ConnectionCounts
    let clients: ClientAddress
    let fastReads: FastReads
    let directWrites: DirectWrites

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let timer = ConnectionTimer(limits: limits)
        let peer = channel.remoteAddress.flatMap(AddressRange.bytes(of:))
        let exempt = peer.map(clients.isTrusted) ?? false
        let address = peer.map(AddressRange.clientKey(of:)) ?? "unknown"
        let admitted = exempt || counts.open(address, limit: limits.maximumPerAddress)
        if admitted && !exempt {
            let counts = self.counts
            channel.closeFuture.whenComplete { _ in counts.close(address) }
        }
        guard admitted else {
            return channel.close().flatMapThrowing { throw ChannelError.ioOnClosedChannel }
        }
        do {
            try channel.pipeline.syncOperations.addHandler(BytesArrivingHandler(timer: timer), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        // Both go between NIO's HTTP/1 codec and the conversion to HTTP types
        // (`HTTP1ToHTTPServerCodec`) that Hummingbird adds: the fast paths take requests before
        // it, and the deadlines see every request, those answered fast too.
        let (fastReads, directWrites, writeTimeout) = (self.fastReads, self.directWrites, limits.writeTimeout)
        return HTTP1Channel.setup(responder: responder, channel: channel, logger: logger) {
            [
                RequestProgressHandler(timer: timer),
                // No handler between the socket and FastRouteHandler may close the connection:
                // the fast path's answers wait for the loop's turn to end, and are flushed first
                // only by closes that pass through it (FastRouteHandler).
                FastRouteHandler(reads: fastReads, writes: directWrites, writeTimeout: writeTimeout),
            ]
        }
    }

    func handle(value: Value, logger: Logger) async {
        await HTTP1Channel(responder: responder).handle(value: value, logger: logger)
    }
}

/// One connection's phase and its deadline. Used on the connection's event loop only.
///
/// One task at a time is scheduled per connection. Entering a phase moves the deadline; the
/// task is moved only when the new deadline comes before it (a request's first byte after an
/// idle wait). A task that finds the deadline moved later schedules itself again for it.
final class ConnectionTimer: @unchecked Sendable {
    enum Phase {
        /// Between requests: waiting for the first byte of the next one.
        case idle
        case readingHead
        case readingBody
        /// The whole request is in; the service is answering (no deadline: that is ours).
        case responding
    }

    let limits: ConnectionLimits
    private(set) var phase = Phase.readingHead
    /// When the connection is closed if it is still in its phase; nil while responding.
    private var deadline: NIODeadline?
    private var scheduled: (task: Scheduled<Void>, at: NIODeadline)?
    /// The close that comes if the connection stays unable to take more (``writable(_:context:)``).
    private var stalled: Scheduled<Void>?

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    /// Enters `phase`, closing the connection if it is still in it after its timeout.
    func enter(_ phase: Phase, context: ChannelHandlerContext) {
        self.phase = phase
        let timeout: TimeAmount
        switch phase {
        case .idle: timeout = limits.idleTimeout
        case .readingHead: timeout = limits.headerTimeout
        case .readingBody: timeout = limits.bodyTimeout
        case .responding:
            deadline = nil
            return
        }
        let deadline = NIODeadline.now() + timeout
        self.deadline = deadline
        if let scheduled {
            guard deadline < scheduled.at else { return }
            scheduled.task.cancel()
        }
        arm(at: deadline, eventLoop: context.eventLoop, channel: context.channel)
    }

    private func arm(at time: NIODeadline, eventLoop: any EventLoop, channel: any Channel) {
        let task = eventLoop.scheduleTask(deadline: time) { [self] in
            self.scheduled = nil
            guard let deadline = self.deadline else { return }  // responding: the next phase arms it
            if deadline <= .now() {
                channel.close(promise: nil)
            } else {
                self.arm(at: deadline, eventLoop: eventLoop, channel: channel)
            }
        }
        scheduled = (task, time)
    }

    /// Whether the connection can take more of its answers: the first `false` arms a close
    /// after ``ConnectionLimits/writeTimeout``, the next `true` cancels it. When the timeout
    /// passes with the connection still unable to take more, it is closed only if none of what
    /// waited went out meanwhile: a client that reads, however slowly, is given another
    /// timeout each time. (While the connection cannot take more, nothing is added to what
    /// waits: Hummingbird's writer and the fast paths hold their answers.)
    func writable(_ writable: Bool, context: ChannelHandlerContext) {
        if writable {
            stalled?.cancel()
            stalled = nil
        } else if stalled == nil {
            armStallCheck(channel: context.channel, eventLoop: context.eventLoop)
        }
    }

    private func armStallCheck(channel: any Channel, eventLoop: any EventLoop) {
        let waiting = try? channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)
        stalled = eventLoop.scheduleTask(in: limits.writeTimeout) { [self] in
            self.stalled = nil
            let now = try? channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)
            if let waiting, let now, now < waiting {
                self.armStallCheck(channel: channel, eventLoop: eventLoop)
            } else {
                channel.close(promise: nil)
            }
        }
    }

    func stop() {
        scheduled?.task.cancel()
        scheduled = nil
        deadline = nil
        stalled?.cancel()
        stalled = nil
    }
}

/// In front of the HTTP decoder: starts the header deadline when the connection opens, and
/// when the first byte of a request arrives on an idle connection; tells the timer when the
/// connection can or cannot take more of its answers.
final class BytesArrivingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let timer: ConnectionTimer
    private var started = false

    init(timer: ConnectionTimer) {
        self.timer = timer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        timer.enter(.readingHead, context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timer.phase == .idle { timer.enter(.readingHead, context: context) }
        context.fireChannelRead(data)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        timer.writable(context.channel.isWritable, context: context)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer.stop()
        context.fireChannelInactive()
    }
}

/// Behind the HTTP decoder: a whole header starts the body deadline, a whole request ends the
/// deadlines, and a whole response starts the idle one.
///
/// A response may end before its request does (a route that refuses without reading the body,
/// then reads the rest of it): the body's deadline still runs, and the request's end then
/// starts the idle one, since no answer is owed. So every phase but a real wait for an answer
/// has a deadline. Requests and responses are counted, as pipelined requests may come in
/// while an earlier one is answered.
final class RequestProgressHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart
    let timer: ConnectionTimer
    /// Requests read whole, and responses written whole, on this connection.
    private var requestsEnded = 0
    private var responsesEnded = 0

    init(timer: ConnectionTimer) {
        self.timer = timer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: timer.enter(.readingBody, context: context)
        case .body: break
        case .end:
            requestsEnded += 1
            timer.enter(responsesEnded >= requestsEnded ? .idle : .responding, context: context)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            responsesEnded += 1
            if timer.phase == .responding, responsesEnded >= requestsEnded { timer.enter(.idle, context: context) }
        }
        context.write(data, promise: promise)
    }
}
