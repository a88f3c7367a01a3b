import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

extension AuthServer {
    /// The metrics in Prometheus' text format.
    func metricsResponse() -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.render(server: self))))
    }

    /// The listener on ``Configuration/metricsHost`` and ``Configuration/metricsPort``: it
    /// serves `GET /metrics` and nothing else (404 for every other path), and once it is
    /// configured the public listener no longer serves `/metrics`, so the metrics can stay on
    /// an address only the monitoring network reaches. When it is bound it logs
    /// `metrics served on HOST:PORT` (the port it really bound, for port 0). A request that may
    /// change protocols is refused there (``ProtocolChangeRefusal``).
    func metricsApplication() -> some ApplicationProtocol {
        let router = Router(context: AuthRequestContext.self)
        router.get("/metrics") { _, _ in self.metricsResponse() }
        var quiet = Logger(label: "authd-metrics")
        // Hummingbird's own "listening on" line would read like the public listener's.
        quiet.logLevel = max(logger.logLevel, .warning)
        let host = configuration.metricsHost
        let logger = self.logger
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in ProtocolChangeRefusingHTTP1Channel(responder: responder) },
            configuration: .init(
                address: .hostname(host, port: configuration.metricsPort ?? 0), serverName: "authd-metrics"),
            onServerRunning: { channel in
                logger.info("metrics served on \(host):\(channel.localAddress?.port ?? 0)")
            },
            logger: quiet)
    }
}
