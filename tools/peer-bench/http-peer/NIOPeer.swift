import NIOCore
import NIOHTTP1
import NIOPosix

/// A bare SwiftNIO HTTP/1 server: NIO's own pipeline and a handler that answers each request,
/// once its end has arrived, with the fixed body (header, body and end written, flushed once).
struct NIOPeer {
    let body: [UInt8]

    func run() throws {
        let body = ByteBuffer(bytes: self.body)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(FixedBodyHandler(body: body))
                }
            }
        let channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        Listening.announce(port: channel.localAddress?.port ?? 0)
        try channel.closeFuture.wait()
    }
}

/// Answers every request with `200 OK` and the body; keeps the connection open, as HTTP/1.1
/// clients expect.
final class FixedBodyHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let body: ByteBuffer
    let head: HTTPResponseHead

    init(body: ByteBuffer) {
        self.body = body
        self.head = HTTPResponseHead(
            version: .http1_1, status: .ok,
            headers: ["Content-Type": "application/json", "Content-Length": String(body.readableBytes)])
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
