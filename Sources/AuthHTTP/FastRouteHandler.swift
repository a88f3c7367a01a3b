import HTTPTypes
import NIOCore
import NIOHTTP1

/// Behind NIO's HTTP/1 codec, in front of the conversion to HTTP types and Hummingbird:
/// answers the requests ``FastReads`` and ``DirectWrites`` take, and passes every other request
/// on. Used on the connection's event loop only.
///
/// It sits before the conversion so that a fast read costs no conversion of its head and
/// fields either way (docs/architecture.md, "Fast reads"); a direct write converts its head
/// with the conversion's own code (``DirectWrites/take(_:)``), for the router.
///
/// Answers keep the order of requests, and a direct write is answered as Hummingbird would
/// answer it (which never sees it: its connection handler counts no request in progress):
/// - while a request passed on is unanswered, the connection's later requests are passed on
///   too (counted until their answer's end goes out through here);
/// - while a direct write is being answered, everything that comes after it waits here in
///   order (request parts, events such as the input's end, decoding errors) until its answer
///   is written; then they are taken up in order. Once something waits, the socket is not
///   read again until then (``read(context:)``);
/// - a shutdown's request to finish (`ChannelShouldQuiesceEvent`) that comes while a direct
///   write's body is still coming waits too, as Hummingbird waits for a request under way;
/// - after a shutdown's request to finish, or a request that asks to close the connection,
///   nothing more is taken here;
/// - only HTTP/1.1 heads are taken; every head meets the Host rule first
///   (``HTTPRequestHead/breaksTheHostRule``), and one that breaks it is dropped and answered
///   400 by Hummingbird, as a head that does not parse;
/// - a request that asks to close the connection (NIO's reading of its `Connection` field,
///   the same as the decoder's and Hummingbird's), an HTTP/1.0 one without keep-alive, a
///   request that may change protocols (``HTTPRequestHead/mayChangeProtocols``: the socket
///   is then never read again, as the decoder would keep what came) and a head that broke
///   the Host rule are the connection's last: the socket is not read again
///   until the last answer owed is out, what comes after them is dropped, and once that
///   answer is out the connection's output is closed, then the whole connection
///   ``lingering`` later (RFC 9112 §9.6). A client that does not take that answer is closed
///   the connection's write timeout after it was written: whatever the client does, the
///   connection ends.
///
/// A fast read's answer is flushed once the event loop has read every connection that was
/// ready, with the other answers of that turn, not as soon as it is written
/// (docs/architecture.md, "Fast reads on the event loop"). It is flushed before that when
/// ``maximumWaitingAnswers`` wait, when a close passes through here, when an event or error
/// is passed on, and when the handler is removed. A close made by a handler nearer the socket
/// would not pass through here: none of them closes (ConnectionLimits.swift says so where the
/// pipeline is built).
final class FastRouteHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let reads: FastReads
    let writes: DirectWrites
    /// How long the last answer may wait to go out before the connection is closed anyway
    /// (``ConnectionLimits/writeTimeout``).
    let writeTimeout: TimeAmount

    private enum Held {
        /// A read taken, waiting for its end.
        case read(HTTPRequestHead, FastReads.Taken)
        /// A write taken, gathering its body.
        case write(HTTPRequest, body: ByteBuffer)
    }

    /// What came while a direct write was answered, kept in order.
    private enum Waiting {
        case part(HTTPServerRequestPart)
        case event(Any)
        case error(any Error)
    }

    private var held: Held?
    /// Requests passed on whose answer has not ended.
    private var unanswered = 0
    /// A direct write is being answered.
    private var answering = false
    /// What came while ``answering`` (or a shutdown's request while a direct write's body was
    /// coming), in order.
    private var waiting = CircularBuffer<Waiting>()
    /// A read of the socket asked for while ``answering`` with something ``waiting``, or after
    /// the last request while an answer is owed: made once it may be (``read(context:)``).
    private var readHeld = false
    /// The last answer is out, and the connection's output closed: what the client still sends
    /// is read and dropped until the connection is closed (not read, if ``decoderStopped``).
    private var lingeringStarted = false
    /// The close of a connection whose last answer has not gone out a ``writeTimeout`` after it
    /// was written; cancelled once it is out, so that a closed connection is not kept waiting
    /// for it.
    private var lastAnswerDeadline: Scheduled<Void>?
    /// A shutdown asked the connection to finish, or a request asked to close it.
    private var finishing = false
    private var removed = false
    /// The connection's last request has come: one that asked to close the connection or to
    /// change protocols (its head passed on, ``closeRequested``, then its end) or a head that
    /// broke the Host rule (``HTTPRequestHead/breaksTheHostRule``, dropped, answered 400). Everything after it is
    /// dropped, and the connection is closed once the last answer owed is out. Set once.
    private var ended = false
    /// The head of a request asking to close the connection was passed on; its end sets
    /// ``ended``.
    private var closeRequested = false
    /// The last request was one after which NIO's decoder parses nothing
    /// (``HTTPRequestHead/mayChangeProtocols``): the socket is not read again, not even to drop
    /// what the client sends while the connection lingers, since the decoder would keep it all.
    /// What the client still sends waits in the kernel's socket buffer (which NIO reads once if
    /// the client closes its side) until the connection is closed.
    private var decoderStopped = false
    /// Fast answers written and not flushed. The first of them scheduled a task on the event
    /// loop that flushes them; any flush here before it leaves that task nothing to do.
    private var waitingAnswers = 0
    /// At this many fast answers waiting (a client pipelining reads), they are flushed at
    /// once: about 8 KiB of answers, well under NIO's 64 KiB high-water mark, so a client that
    /// reads its answers never makes its connection unwritable with answers not yet sent.
    static let maximumWaitingAnswers = 16
    /// How long a connection whose last answer is out still reads, and drops, what the client
    /// sends before it is closed (2 s): a close with unread input would send the client a reset,
    /// which could take the last answer with it.
    static let lingering = TimeAmount.seconds(2)

    init(reads: FastReads, writes: DirectWrites, writeTimeout: TimeAmount) {
        self.reads = reads
        self.writes = writes
        self.writeTimeout = writeTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if answering {
            waiting.append(.part(part))
        } else {
            take(part, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        flushAnswers(context)
        let quiesce = event is ChannelShouldQuiesceEvent
        if quiesce { finishing = true }
        if answering || (quiesce && isGathering) {
            waiting.append(.event(event))
            return
        }
        // The input's end before a gathered body is whole: that request can never be, and
        // nothing of it has run.
        if case .inputClosed = event as? ChannelEvent { dropGathered(context) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        flushAnswers(context)
        if answering {
            waiting.append(.error(error))
            return
        }
        // A request being read when decoding failed is not whole: nothing of it has run.
        dropGathered(context)
        held = nil
        context.fireErrorCaught(error)
    }

    /// Forgets a direct write whose body can no longer come whole, and hands on the events
    /// that waited for it.
    private func dropGathered(_ context: ChannelHandlerContext) {
        guard isGathering else { return }
        held = nil
        while let next = waiting.popFirst() {
            switch next {
            case .part: continue  // none: nothing is read after the input's end or a decoding error
            case .event(let event): context.fireUserInboundEventTriggered(event)
            case .error(let error): context.fireErrorCaught(error)
            }
        }
    }

    /// A direct write's body is being gathered.
    private var isGathering: Bool {
        if case .write = held { return true }
        return false
    }

    private func take(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        guard !ended else {
            // Dropped, but the decoder parses nothing after it either: lingering must not read.
            if case .head(let head) = part, head.mayChangeProtocols { decoderStopped = true }
            return
        }
        switch part {
        case .head(let head):
            if head.breaksTheHostRule {
                // Lingering reads nothing after a request the decoder parses nothing after.
                if head.mayChangeProtocols { decoderStopped = true }
                refuse(context)
                return
            }
            if unanswered == 0, held == nil, !finishing, head.version == .http1_1, context.channel.isWritable {
                if let taken = reads.take(head) {
                    held = .read(head, taken)
                    return
                }
                if let (request, length) = writes.take(head) {
                    // Grown as the body comes: a client that only announces a length holds little.
                    held = .write(request, body: context.channel.allocator.buffer(capacity: min(length, 1_024)))
                    return
                }
            }
            // A close asked for, or an HTTP/1.0 request without keep-alive: its answer is the
            // last. Read as NIO's decoder reads it, token by token: a request this handler took
            // for the last while the decoder read on would have every head after it dropped
            // here and counted by the deadlines' handler as owed an answer.
            //
            // A request to change protocols is the last too: the decoder parses nothing after
            // it, and would keep whatever came (``HTTPRequestHead/mayChangeProtocols``).
            let changesProtocols = head.mayChangeProtocols
            if !head.isKeepAlive || changesProtocols {
                finishing = true
                closeRequested = true
                if changesProtocols { decoderStopped = true }
            }
            passOn(part, context: context)
        case .body(let bytes):
            switch held {
            case .write(let head, var body):
                held = nil  // the buffer stays unique: no copy on the write below
                body.writeImmutableBuffer(bytes)
                held = .write(head, body: body)
            case .read(let head, _):
                // A read taken has neither Content-Length nor Transfer-Encoding: no body part
                // reaches here for it. Should one, the request goes the slow way whole.
                held = nil
                passOn(.head(head), context: context)
                context.fireChannelRead(wrapInboundOut(part))
            case nil:
                context.fireChannelRead(wrapInboundOut(part))
            }
        case .end:
            switch held {
            case nil:
                context.fireChannelRead(wrapInboundOut(part))
                if closeRequested { end(context) }
            case .read(let head, let taken):
                held = nil
                guard let (response, body) = reads.answer(taken, allocator: context.channel.allocator) else {
                    passOn(.head(head), context: context)
                    context.fireChannelRead(wrapInboundOut(part))
                    return
                }
                write(response, body, context: context, flushNow: false)
            case .write(let head, let body):
                held = nil
                answering = true
                let writes = self.writes
                let channel = context.channel
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
                Task {
                    let answer = await writes.answer(head, body: body, channel: channel)
                    channel.eventLoop.execute {
                        handler.value.answered(answer, context: boundContext.value)
                    }
                }
            }
        }
    }

    /// Drops the head that broke the Host rule and whatever follows it, and has Hummingbird
    /// answer as it answers a head that does not parse: 400, after the answers to the requests
    /// before it; the connection is closed once that 400 is out (``write(context:data:promise:)``).
    private func refuse(_ context: ChannelHandlerContext) {
        unanswered += 1  // the 400
        flushAnswers(context)
        end(context)
        context.fireErrorCaught(HTTPParserError.invalidHeaderToken)
    }

    /// The connection's last request has come (``ended``): nothing after it is passed on, and
    /// the connection is closed (``linger(_:)``) when the last answer owed is out, or now if
    /// none is owed. Hummingbird, after such a request, at most closes its own side and waits
    /// for the client to close, and the deadlines' handler nearer the socket has counted every
    /// head that came after it, so it would wait for their answers with no deadline: a client
    /// could hold the connection, and its address's place under the cap, as long as it liked.
    private func end(_ context: ChannelHandlerContext) {
        ended = true
        if unanswered == 0, !answering { linger(context) }
    }

    /// Closes the connection's output now and the whole connection ``lingering`` later; reads
    /// the socket again meanwhile, to drop what the client still sends (unless
    /// ``decoderStopped``).
    private func linger(_ context: ChannelHandlerContext) {
        guard !lingeringStarted else { return }
        lingeringStarted = true
        lastAnswerDeadline?.cancel()
        lastAnswerDeadline = nil
        close(context: context, mode: .output, promise: nil)
        if readHeld, !removed, !decoderStopped {
            readHeld = false
            context.read()
        }
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.lingering) {
            boundContext.value.close(promise: nil)
        }
    }

    /// Sends a request's head on to Hummingbird.
    private func passOn(_ head: HTTPServerRequestPart, context: ChannelHandlerContext) {
        unanswered += 1
        context.fireChannelRead(wrapInboundOut(head))
    }

    /// Writes an answer. A direct write's answer (`flushNow`) is flushed at once, as Hummingbird
    /// flushes each answer. A fast read's is flushed by a task on the event loop, which runs
    /// once the loop has read every connection that was ready: the answers of one turn leave
    /// together instead of one between each read. Never by a read-complete event, which a
    /// decode outside a socket read would not bring.
    private func write(
        _ response: HTTPResponseHead, _ body: ByteBuffer, context: ChannelHandlerContext, flushNow: Bool = true
    ) {
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        waitingAnswers += 1
        if flushNow || waitingAnswers >= Self.maximumWaitingAnswers {
            waitingAnswers = 0
            context.flush()
            return
        }
        guard waitingAnswers == 1 else { return }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.execute { handler.value.flushAnswers(boundContext.value) }
    }

    /// Flushes a fast read's answer written and not yet flushed, if any.
    private func flushAnswers(_ context: ChannelHandlerContext) {
        guard waitingAnswers > 0 else { return }
        waitingAnswers = 0
        if !removed { context.flush() }
    }

    /// A direct write's answer, back on the event loop: written (or, when its body could not
    /// be made, the connection closed, as Hummingbird closes it), then what waited is taken up
    /// in order, then the socket is read again if a read was asked for meanwhile.
    private func answered(_ answer: (HTTPResponseHead, ByteBuffer)?, context: ChannelHandlerContext) {
        answering = false
        guard !removed, context.channel.isActive, let (response, body) = answer else {
            waiting.removeAll()
            if !removed {
                // From this context, the close does not pass through ``close(context:mode:promise:)``.
                flushAnswers(context)
                context.close(promise: nil)
            }
            return
        }
        // Counted before it goes out: a client that reads the answer then the metrics sees it.
        writes.server.directWriteCount.add(1, ordering: .relaxed)
        write(response, body, context: context)
        var passed = false
        while !answering, let next = waiting.first {
            // A shutdown's request behind a direct write whose body is still coming waits on.
            if case .event(let event) = next, event is ChannelShouldQuiesceEvent, isGathering { break }
            waiting.removeFirst()
            switch next {
            case .part(let part):
                passed = true
                take(part, context: context)
            case .event(let event): userInboundEventTriggered(context: context, event: event)
            case .error(let error): errorCaught(context: context, error: error)
            }
        }
        // Hummingbird's inbound stream hands on what it was given at a read's completion.
        if passed { context.fireChannelReadComplete() }
        if !answering, readHeld {
            readHeld = false
            read(context: context)
        }
    }

    /// Rules: while a direct write is answered, the socket is read on as long as nothing waits
    /// behind it; once something does (a client pipelining, or ending its sending), the read is
    /// held until the answer is written. So a client gets at most one readiness's reads (NIO
    /// reads a ready socket up to four times before it asks again) held here, and one that
    /// sends a request at a time, nearly every client, costs the event loop no change of its
    /// interest in the socket (two `epoll_ctl` calls a write, when every write held the read).
    ///
    /// After the connection's last request, the socket is not read until the last answer owed
    /// is out (``linger(_:)``): what would come is dropped anyway, and a client sending on
    /// meets the socket's own back-pressure instead of having its heads decoded here. After a
    /// request to change protocols it is not read again at all (``decoderStopped``).
    func read(context: ChannelHandlerContext) {
        if (answering && !waiting.isEmpty) || (ended && (!lingeringStarted || decoderStopped)) {
            readHeld = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if decoderStopped, unanswered == 1, case .head(var head) = unwrapOutboundIn(data) {
            // The last answer, after a request to change protocols: it says the connection ends.
            head.headers.replaceOrAdd(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
            return
        }
        if case .end = unwrapOutboundIn(data), unanswered > 0 {
            unanswered -= 1
            if unanswered == 0, ended {
                // The last answer owed: the connection ends once it is out (``end(_:)``).
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
                // A client that never takes it would hold the connection as long as it liked: the
                // deadlines' handler allows an answer going out all the time it takes while less
                // than its high-water mark waits. Armed first: a write that fails at once lingers
                // (and disarms it) before `write` returns.
                lastAnswerDeadline = context.eventLoop.scheduleTask(in: writeTimeout) {
                    boundContext.value.close(promise: nil)
                }
                let written = promise ?? context.eventLoop.makePromise()
                context.write(data, promise: written)
                written.futureResult.whenComplete { _ in handler.value.linger(boundContext.value) }
                return
            }
        }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        // Whatever flushes here flushes the answers written before it too.
        waitingAnswers = 0
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // A close fails what is written and not flushed: the answers go first.
        flushAnswers(context)
        context.close(mode: mode, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        flushAnswers(context)
        removed = true
        waiting.removeAll()
        lastAnswerDeadline?.cancel()
        lastAnswerDeadline = nil
    }
}
