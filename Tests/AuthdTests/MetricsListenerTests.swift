import Foundation
import TestSupport
import Testing

/// `--metrics-port` moves /metrics to its own listener: the public one answers 404 there.
@Suite(.ownThreads) struct MetricsListenerTests {
    @Test func withAMetricsPortTheMetricsAreOnlyOnTheirOwnListener() async throws {
        let server = try RunningServer(arguments: ["--metrics-host", "127.0.0.1", "--metrics-port", "0"])
        let port = try metricsPort(server)
        #expect(port != server.port)
        let health = try await server.call("GET", "/healthz")
        #expect(health.status == 200)
        let hidden = try await server.call("GET", "/metrics")
        #expect(hidden.status == 404, "the public listener still serves /metrics")

        let metrics = try await LoopbackRequest("GET", "/metrics").send(port: port)
        let text = String(decoding: metrics.body, as: UTF8.self)
        #expect(metrics.status == 200)
        #expect(text.contains(#"authlog_http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "\(text)")
        // Nothing but /metrics there.
        let other = try await LoopbackRequest("GET", "/healthz").send(port: port)
        #expect(other.status == 404)
    }

    /// A request that may change protocols is refused on the metrics listener (400), and the
    /// connection is read no more and closed. NIO's decoder parses nothing after such a request
    /// and keeps what follows; before, the listener answered it (200) and took all 40 MB sent
    /// after it, and the listener has no deadline that would close such a connection.
    @Test func aRequestToChangeProtocolsIsRefusedThere() async throws {
        let server = try RunningServer(arguments: ["--metrics-host", "127.0.0.1", "--metrics-port", "0"])
        let port = try metricsPort(server)
        for head in [
            "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nHost: a\r\nProxy-Connection: upgrade\r\nUpgrade: x\r\n\r\n",
        ] {
            let connection = try LoopbackConnection(port: port, from: "127.0.0.1", bufferSize: 65_536)
            defer { withExtendedLifetime(connection) {} }
            try connection.send(head)
            let (answer, _) = try connection.readAnswer(timeout: 30)
            #expect(answer.status == 400, "\(head)")
            let (_, sent) = connection.flood("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(sent < 4_000_000, "the metrics listener took \(sent) bytes after \(head)")
            #expect(connection.readUntilClosed(timeout: 30) != nil, "the connection of \(head) stays open")
        }
        // The listener still serves.
        let metrics = try await LoopbackRequest("GET", "/metrics").send(port: port)
        #expect(metrics.status == 200)
    }

    @Test func withoutAMetricsPortThePublicListenerServesThem() async throws {
        let server = try RunningServer()
        let reply = try await server.call("GET", "/metrics")
        #expect(reply.status == 200 && String(decoding: reply.body, as: UTF8.self).contains("authlog_kdf_queue_depth"))
    }

    /// A metrics setting that would not take effect stops authd at start, rather than leave
    /// /metrics on the public listener.
    @Test func metricsSettingsThatWouldNotApplyAreRefused() throws {
        let data = NSTemporaryDirectory() + "authd-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        let authd = products().appendingPathComponent("authd")
        for (arguments, environment, expected) in [
            (["--metrics-host", "127.0.0.1"], [:], "--metrics-host needs --metrics-port"),
            ([], ["AUTHLOG_METRICS_PORT": "nine"], "AUTHLOG_METRICS_PORT must be a port number"),
            (["--metrics-port", "70000"], [:], "--metrics-port must be 0 to 65535"),
        ] {
            let run = try runProcess(
                authd, ["--data", data, "--port", "0"] + arguments,
                environment: inherited.merging(environment) { $1 })
            #expect(run.status == 64 && run.stderr.contains(expected), "\(arguments) \(environment): \(run.stderr)")
        }
    }

    /// The port of the metrics listener, from the line authd logs when it is bound.
    func metricsPort(_ server: RunningServer) throws -> Int {
        var text = server.startupOutput
        while true {
            if let range = text.range(of: #"metrics served on 127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                let port = Int(text[range].split(separator: ":").last ?? "")
            {
                return port
            }
            let chunk = server.output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw RunningServer.ServerError.didNotStart(text) }
            text += String(decoding: chunk, as: UTF8.self)
        }
    }
}
