import TestSupport
import Testing

@testable import AuthHTTP

@Suite(.ownThreads) struct MetricsTests {
    @Test func latencyBucketsAreCumulativeAsPrometheusReadsThem() {
        let metrics = Metrics()
        for seconds in [0.0001, 0.002, 0.002, 0.3, 5] {
            metrics.record(method: "GET", route: "/v1/users/:id", status: 200, seconds: seconds)
        }
        metrics.record(method: "GET", route: "/v1/users/:id", status: 404, seconds: 0.0002)
        let lines = metrics.renderRequests().split(separator: "\n").map(String.init)
        let labels = #"method="GET",route="/v1/users/:id""#
        func bucket(_ bound: String) -> String? {
            lines.first { $0.hasPrefix("authlog_http_request_duration_seconds_bucket{\(labels),le=\"\(bound)\"} ") }?
                .split(separator: " ").last.map(String.init)
        }
        let expected = [
            "0.0005": "2", "0.001": "2", "0.0025": "4", "0.005": "4", "0.01": "4", "0.025": "4", "0.05": "4",
            "0.1": "4", "0.25": "4", "0.5": "5", "1.0": "5", "+Inf": "6",
        ]
        for (bound, count) in expected { #expect(bucket(bound) == count, "le=\(bound)") }
        #expect(lines.contains("authlog_http_request_duration_seconds_count{\(labels)} 6"))
        #expect(lines.contains("authlog_http_requests_total{\(labels),status=\"200\"} 5"))
        #expect(lines.contains("authlog_http_requests_total{\(labels),status=\"404\"} 1"))
    }
}
