import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Behind the HTTP codec, in front of Hummingbird: answers the requests ``FastReads`` and
/// ``DirectWrites`` take, and passes every other request on. Used on the connection's event
/// loop only.
///
/// Answers keep the order of requests:
/// - while a request passed on is unanswered, the connection's later requests are passed on
///   too (counted until their answer's end goes out through here);
/// - while a direct write is being answered, the parts of later requests wait here, and the
///   socket is not read, until its answer is written; then they are taken up in order.
final class FastRouteHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let reads: FastReads
    let writes: DirectWrites

    private enum Held {
        /// A read taken, waiting for its end.
        case read(HTTPRequest, FastReads.Taken)
        /// A write taken, gathering its body.
        case write(HTTPRequest, body: ByteBuffer)
    }

    private var held: Held?
    /// Requests passed on whose answer has not ended.
    private var unanswered = 0
    /// A direct write is being answered.
    private var answering = false
    /// Parts that came while ``answering``, in order.
    private var waiting = CircularBuffer<HTTPRequestPart>()
    /// A read of the socket asked for while ``answering``: made once the answer is written.
    private var readHeld = false
    private var removed = false

    init(reads: FastReads, writes: DirectWrites) {
        self.reads = reads
        self.writes = writes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if answering {
            waiting.append(part)
        } else {
            take(part, context: context)
        }
    }

    private func take(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            if unanswered == 0, held == nil, context.channel.isWritable {
                if let taken = reads.take(head) {
                    held = .read(head, taken)
                    return
                }
                if let length = writes.take(head) {
                    held = .write(head, body: context.channel.allocator.buffer(capacity: length))
                    return
                }
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
            case .read(let head, let taken):
                held = nil
                guard let (response, body) = reads.answer(taken, allocator: context.channel.allocator) else {
                    passOn(.head(head), context: context)
                    context.fireChannelRead(wrapInboundOut(part))
                    return
                }
                write(response, body, context: context)
            case .write(let head, let body):
                held = nil
                answering = true
                let writes = self.writes
                let channel = context.channel
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
                Task {
                    let (response, body) = await writes.answer(head, body: body, channel: channel)
                    channel.eventLoop.execute {
                        handler.value.answered(response, body, context: boundContext.value)
                    }
                }
            }
        }
    }

    /// Sends a request's head on to Hummingbird.
    private func passOn(_ head: HTTPRequestPart, context: ChannelHandlerContext) {
        unanswered += 1
        context.fireChannelRead(wrapInboundOut(head))
    }

    private func write(_ response: HTTPResponse, _ body: ByteBuffer, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(body)), promise: nil) }
        // Flushed at once, as Hummingbird flushes each answer: never left waiting for a
        // read-complete event that a decode outside a socket read would not bring.
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// A direct write's answer, back on the event loop: written, then the parts that waited
    /// are taken up, then the socket is read again if a read was asked for meanwhile.
    private func answered(_ response: HTTPResponse, _ body: ByteBuffer, context: ChannelHandlerContext) {
        answering = false
        guard !removed else { return }
        write(response, body, context: context)
        var passed = false
        while !answering, let part = waiting.popFirst() {
            passed = true
            take(part, context: context)
        }
        // Hummingbird's inbound stream hands on what it was given at a read's completion.
        if passed { context.fireChannelReadComplete() }
        if !answering, readHeld {
            readHeld = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        if answering {
            readHeld = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), unanswered > 0 { unanswered -= 1 }
        context.write(data, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
        waiting.removeAll()
    }
}
