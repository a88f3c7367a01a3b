import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypesHTTP1

extension HTTP1Channel {
    /// Sets up Hummingbird's HTTP/1 pipeline on `channel`, then adds `handlers`, in order,
    /// between NIO's HTTP/1 codec and Hummingbird's conversion to HTTP types
    /// (`HTTP1ToHTTPServerCodec`): where a handler sees NIO's request parts before Hummingbird
    /// does. `handlers` is called on the channel's event loop, once the pipeline is set up.
    static func setup(
        responder: @escaping HTTPChannelHandler.Responder, channel: any Channel, logger: Logger,
        beforeConversion handlers: @escaping @Sendable () -> [any ChannelHandler]
    ) -> EventLoopFuture<Value> {
        HTTP1Channel(responder: responder).setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let conversion = try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)
            for handler in handlers() {
                try pipeline.addHandler(handler, position: .before(conversion))
            }
            return value
        }
    }
}
