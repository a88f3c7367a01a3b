import AccessTokens
import AuthDomain
import Dispatch
import EventLog
import Foundation
import Hummingbird
import Synchronization

/// Verified access tokens, keyed by SHA-256 of the token, so a read pays the signature check
/// once per token rather than once per request. Bounded: when full it starts over.
/// Expiry is checked on every hit; the user's current state is checked by the caller.
final class VerifiedTokenCache: Sendable {
    private let entries = Mutex<[TokenHash: AccessClaims]>([:])
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The claims of a token verified before and not expired, or nil: never verifies.
    func cachedClaims(for token: String, now: Int64) -> AccessClaims? {
        let key = TokenHash(of: Array(token.utf8))
        guard let cached = entries.withLock({ $0[key] }), now < cached.expires, cached.notBefore <= now else {
            return nil
        }
        return cached
    }

    func claims(for token: String, now: Int64, verify: () throws -> AccessClaims) throws -> AccessClaims {
        let key = TokenHash(of: Array(token.utf8))
        if let cached = entries.withLock({ $0[key] }), now < cached.expires, cached.notBefore <= now { return cached }
        let claims = try verify()
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = claims
        }
        return claims
    }
}

/// Request counts and latencies by route and status, in Prometheus' text format.
final class Metrics: Sendable {
    static let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
    struct Route: Hashable {
        var method: String
        var route: String
    }
    struct Outcome: Hashable {
        var route: Route
        var status: Int
    }
    /// One route's latencies: requests per bucket (not cumulative: each request adds to one
    /// bucket, the first whose bound it is within, or none past the last), their sum and count.
    private struct Latency {
        var counts = [Int](repeating: 0, count: Metrics.buckets.count)
        var sum = 0.0
        var count = 0

        mutating func add(_ seconds: Double, inBucket bucket: Int?) {
            if let bucket { counts[bucket] += 1 }
            sum += seconds
            count += 1
        }

        /// The cumulative count of bucket `index`, as Prometheus' `le` buckets are.
        func cumulative(_ index: Int) -> Int { counts[...index].reduce(0, +) }
    }
    private struct Series {
        var requests: [Outcome: Int] = [:]
        var latency: [Route: Latency] = [:]
    }
    private let series = Mutex(Series())

    /// Counts one request: one look-up per table under the lock, since every request pays it.
    func record(method: String, route: String, status: Int, seconds: Double) {
        let key = Route(method: method, route: route)
        let bucket = Self.buckets.firstIndex { seconds <= $0 }
        series.withLock { series in
            series.requests[Outcome(route: key, status: status), default: 0] += 1
            series.latency[key, default: Latency()].add(seconds, inBucket: bucket)
        }
    }

    func render(server: AuthServer) -> String {
        var out = renderRequests()
        let gauges = server.gauges()
        out +=
            "# TYPE authlog_http_fast_reads_total counter\nauthlog_http_fast_reads_total \(server.fastReadCount.load(ordering: .relaxed))\n"
        out +=
            "# TYPE authlog_http_direct_writes_total counter\nauthlog_http_direct_writes_total \(server.directWriteCount.load(ordering: .relaxed))\n"
        if server.console != nil {
            out +=
                "# TYPE authlog_console_sessions_ended_total counter\nauthlog_console_sessions_ended_total \(server.consoleSessionsEnded.load(ordering: .relaxed))\n"
        }
        out += "# TYPE authlog_es256_signatures_total counter\n"
        out += "authlog_es256_signatures_total{nonce=\"made_ahead\"} \(gauges.signaturesWithNonceMadeAhead)\n"
        out += "authlog_es256_signatures_total{nonce=\"made_then\"} \(gauges.signaturesWithNonceMadeThen)\n"
        out += "# TYPE authlog_es256_nonces_ready gauge\nauthlog_es256_nonces_ready \(gauges.noncesReady)\n"
        out += "# TYPE authlog_appends_total counter\nauthlog_appends_total \(gauges.appends)\n"
        out += "# TYPE authlog_appended_events_total counter\nauthlog_appended_events_total \(gauges.appendedEvents)\n"
        out += "# TYPE authlog_commits_total counter\nauthlog_commits_total \(gauges.commits)\n"
        out += "# TYPE authlog_group_commit_batch_appends histogram\n"
        var cumulative: UInt64 = 0
        for (index, bound) in gauges.batchSizeBounds.enumerated() {
            cumulative += index < gauges.commitsByBatchSize.count ? gauges.commitsByBatchSize[index] : 0
            out += "authlog_group_commit_batch_appends_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        out += "authlog_group_commit_batch_appends_bucket{le=\"+Inf\"} \(gauges.commits)\n"
        out += "authlog_group_commit_batch_appends_sum \(gauges.appends)\n"
        out += "authlog_group_commit_batch_appends_count \(gauges.commits)\n"
        out += "# TYPE authlog_kdf_queue_depth gauge\nauthlog_kdf_queue_depth \(gauges.kdfQueueDepth)\n"
        out += "# TYPE authlog_mail_queued gauge\nauthlog_mail_queued \(gauges.mailQueued)\n"
        out += "# TYPE authlog_mail_failed gauge\nauthlog_mail_failed \(gauges.mailFailed)\n"
        out += "# TYPE authlog_mail_delivered_total counter\nauthlog_mail_delivered_total \(gauges.mailDelivered)\n"
        out +=
            "# TYPE authlog_mail_delivery_failures_total counter\nauthlog_mail_delivery_failures_total \(gauges.mailDeliveryFailures)\n"
        if let reads = gauges.copyReads {
            out += "# TYPE authlog_copy_shared_log_reads_total counter\nauthlog_copy_shared_log_reads_total \(reads)\n"
        }
        if let again = gauges.copiesMadeAgain {
            out += "# TYPE authlog_copy_made_again_total counter\nauthlog_copy_made_again_total \(again)\n"
        }
        let checkpoint = (try? server.reads.checkpoint()) ?? 0
        out +=
            "# TYPE authlog_projection_checkpoint gauge\nauthlog_projection_checkpoint{projection=\"users\"} \(checkpoint)\n"
        return out
    }

    /// The request counts and the latency histograms, in Prometheus' text format.
    func renderRequests() -> String {
        var out = "# TYPE authlog_http_requests_total counter\n"
        let snapshot = series.withLock { $0 }
        func labels(_ route: Route) -> String { "method=\"\(route.method)\",route=\"\(route.route)\"" }
        let requests = snapshot.requests.map { ("\(labels($0.key.route)),status=\"\($0.key.status)\"", $0.value) }
        for (labels, count) in requests.sorted(by: { $0.0 < $1.0 }) {
            out += "authlog_http_requests_total{\(labels)} \(count)\n"
        }
        out += "# TYPE authlog_http_request_duration_seconds histogram\n"
        for (labels, entry) in snapshot.latency.map({ (labels($0.key), $0.value) }).sorted(by: { $0.0 < $1.0 }) {
            for (index, bound) in Self.buckets.enumerated() {
                out +=
                    "authlog_http_request_duration_seconds_bucket{\(labels),le=\"\(bound)\"} \(entry.cumulative(index))\n"
            }
            out += "authlog_http_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(entry.count)\n"
            out += "authlog_http_request_duration_seconds_sum{\(labels)} \(entry.sum)\n"
            out += "authlog_http_request_duration_seconds_count{\(labels)} \(entry.count)\n"
        }
        return out
    }
}

extension AuthServer {
    /// A page of users as a JSON response.
    func page(_ users: [UserState], next: String?) -> Response {
        var body: [UInt8] = []
        body.reserveCapacity(64 + users.count * 400)
        body.append(contentsOf: "{\"next_cursor\":".utf8)
        if let next {
            body.append(0x22)
            body.append(contentsOf: next.utf8)  // base64url: nothing to escape
            body.append(0x22)
        } else {
            body.append(contentsOf: "null".utf8)
        }
        body.append(contentsOf: ",\"users\":[".utf8)
        for (index, user) in users.enumerated() {
            if index > 0 { body.append(0x2C) }
            UserJSON.write(user, to: &body)
        }
        body.append(contentsOf: "]}".utf8)
        return json(bytes: body)
    }

    /// A user as a JSON response.
    func respond(_ user: UserState, status: HTTPResponse.Status = .ok) -> Response {
        var body: [UInt8] = []
        body.reserveCapacity(400)
        UserJSON.write(user, to: &body)
        return json(bytes: body, status: status)
    }
}
