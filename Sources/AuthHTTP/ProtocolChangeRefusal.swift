import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// In front of the conversion to HTTP types on the metrics listener, which has no
/// ``FastRouteHandler``: refuses a request that may change protocols
/// (``HTTPRequestHead/mayChangeProtocols``).
///
/// Rules:
/// - Such a request is dropped, and answered as a head that does not parse is: Hummingbird
///   sends 400 and closes the connection.
/// - From then on nothing more is handed on, and the socket is not read again: NIO's decoder
///   parses nothing after such a request and would keep whatever came.
/// - Used on the connection's event loop only.
final class ProtocolChangeRefusal: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var refused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        if case .head(let head) = unwrapInboundIn(data), head.mayChangeProtocols {
            refused = true
            context.fireErrorCaught(HTTPParserError.invalidHeaderToken)
            return
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if !refused { context.read() }
    }
}

/// Hummingbird's HTTP/1 child channel with ``ProtocolChangeRefusal`` in front of its conversion
/// to HTTP types: the metrics listener's.
struct ProtocolChangeRefusingHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let responder: HTTPChannelHandler.Responder

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        HTTP1Channel.setup(responder: responder, channel: channel, logger: logger) { [ProtocolChangeRefusal()] }
    }

    func handle(value: Value, logger: Logger) async {
        await HTTP1Channel(responder: responder).handle(value: value, logger: logger)
    }
}
