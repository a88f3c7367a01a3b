import Hummingbird
import NIOCore

/// A bare Hummingbird 2 application: the default HTTP/1 server and one route, as a service
/// would write it, with no middleware.
struct HummingbirdPeer {
    let body: [UInt8]

    func run() async throws {
        let buffer = ByteBuffer(bytes: body)
        let router = Router()
        router.get("/v1/users/:id") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "hummingbird-peer"),
            onServerRunning: { channel in Listening.announce(port: channel.localAddress?.port ?? 0) })
        try await app.runService()
    }
}
