import Foundation
import PostgresTestSupport
import TestSupport
import Testing

/// A node writes its copy of the log in a writable map, an embedded authd without one, and
/// LMDB's two kinds of writer must not share an environment. Each is refused a directory the
/// other writes, in one line and with nothing touched: while the other runs (its lock), and,
/// for an embedded authd, once a node has written there (the copy's mark).
@Suite(.ownThreads, .serialized, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct WriterKindsTests {
    /// The error authd printed when it did not start, or a recorded issue if it started.
    static func refusal(_ start: () throws -> RunningServer) -> String {
        do {
            _ = try start()
            Issue.record("authd started")
            return ""
        } catch RunningServer.ServerError.didNotStart(let output) {
            return output
        } catch {
            Issue.record("\(error)")
            return ""
        }
    }

    /// A node started on the directory of a running embedded authd, while the shared log holds
    /// another history: before, it took the embedded log for a copy the shared log does not
    /// continue and moved its files aside under the running authd. Now it is refused, and
    /// the embedded authd goes on serving and writing its log in place.
    @Test func aNodeIsRefusedTheDirectoryOfARunningEmbeddedAuthd() async throws {
        let cluster = try Cluster(nodes: 1)
        _ = try await cluster.nodes[0].signUp("shared-\(UUID().uuidString.prefix(8))@example.com")
        let embedded = try RunningServer()
        let user = try await embedded.signUp("embedded-\(UUID().uuidString.prefix(8))@example.com")
        let before = try FileManager.default.contentsOfDirectory(atPath: embedded.data).sorted()

        let output = Self.refusal { try cluster.startNode(data: embedded.data) }
        #expect(output.contains("is being written without the shared log"), "\(output)")
        #expect(output.split(separator: "\n").count == 1, "\(output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: embedded.data).sorted() == before)

        let login = try await embedded.call(
            "POST", "/v1/sessions", json: ["email": user.email, "password": RunningServer.password])
        #expect(login.status == 200, "\(login.status) \(login.code ?? "")")
        let token = try #require(login.json["access_token"] as? String)
        let read = try await embedded.call("GET", "/v1/users/me", token: token)
        #expect(read.status == 200 && read.json["email"] as? String == user.email, "\(read.status) \(read.json)")
    }

    /// An embedded authd is refused a node's directory while the node runs, and after it has
    /// stopped; the node, started again there, serves what it wrote.
    @Test func anEmbeddedAuthdIsRefusedANodesDirectory() async throws {
        let cluster = try Cluster(nodes: 1)
        let node = cluster.nodes[0]
        let user = try await node.signUp("node-\(UUID().uuidString.prefix(8))@example.com")

        let whileRunning = Self.refusal { try RunningServer(data: node.data) }
        #expect(whileRunning.contains("is being written by a cluster node"), "\(whileRunning)")
        #expect(whileRunning.split(separator: "\n").count == 1, "\(whileRunning)")

        cluster.stopNodes()
        let afterwards = Self.refusal { try RunningServer(data: node.data) }
        #expect(afterwards.contains("holds a log written by a cluster node"), "\(afterwards)")
        #expect(afterwards.split(separator: "\n").count == 1, "\(afterwards)")

        let again = try cluster.startNode(data: node.data)
        let login = try await again.call(
            "POST", "/v1/sessions", json: ["email": user.email, "password": RunningServer.password])
        #expect(login.status == 200, "\(login.status) \(login.code ?? "")")
    }
}

/// An import beside a running authd, which needs no PostgreSQL.
@Suite(.ownThreads) struct ImportBesideAuthdTests {
    /// An import into the directory of a running embedded authd whose log is still empty is
    /// refused in one line, nothing imported, the authd serving on. Before, it renamed its
    /// log into place under the running authd, which went on with the file it had open.
    @Test func anImportIsRefusedTheDirectoryOfARunningAuthd() async throws {
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Golden/export-v2/export.jsonl").path
        let kek = "676f6c64656e2d6c6f672d746573742d6b656b2d6e6f742d612d7265616c2d31"  // Tests/Golden's
        let embedded = try RunningServer(environment: ["AUTHLOG_KEK": kek])
        let imported = try runProcess(
            products().appendingPathComponent("authctl"), ["--data", embedded.data, "import", golden],
            environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
                .merging(["AUTHLOG_KEK": kek]) { $1 })
        let stderr = imported.stderr
        #expect(imported.status == 2, "\(stderr)")
        #expect(stderr.contains("is open to a writer"), "\(stderr)")
        #expect(stderr.split(separator: "\n").count == 1, "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: embedded.data + "/import.partial"))

        let user = try await embedded.signUp("after-\(UUID().uuidString.prefix(8))@example.com")
        let read = try await embedded.call("GET", "/v1/users/me", token: user.accessToken)
        #expect(read.status == 200, "\(read.status)")
    }
}
