import Foundation
import TestSupport
import Testing

/// `GET /v1/events`: the log as a feed, against a real authd.
@Suite(.ownThreads) struct EventFeedTests {
    static let adminPassword = "an admin passphrase"

    /// An authd with an ADMIN (root@example.com) and the admin's access token.
    static func serverWithAdmin(arguments: [String] = []) async throws -> (RunningServer, String) {
        let server = try RunningServer(arguments: arguments) { data throws in
            #expect(
                try authctl(
                    ["--data", data, "create-admin", "--email", "root@example.com"], input: adminPassword + "\n")
                    == 0)
        }
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "root@example.com", "password": adminPassword])
        #expect(login.status == 200)
        return (server, try #require(login.json["access_token"] as? String))
    }

    /// Registers a user; returns their id.
    static func register(_ server: RunningServer, _ email: String, first: String = "Ada") async throws -> String {
        let reply = try await server.call(
            "POST", "/v1/users",
            json: ["email": email, "password": "correct horse battery", "first_name": first, "last_name": "Feed"])
        #expect(reply.status == 201)
        return try #require(reply.json["id"] as? String)
    }

    /// Every event of the feed, read a page of `limit` at a time.
    static func allEvents(_ server: RunningServer, token: String, limit: Int = 2) async throws -> [[String: Any]] {
        var events: [[String: Any]] = []
        var after = 0
        while true {
            let page = try await server.call("GET", "/v1/events?after=\(after)&limit=\(limit)", token: token)
            #expect(page.status == 200, "\(String(decoding: page.body, as: UTF8.self))")
            let batch = page.json["events"] as? [[String: Any]] ?? []
            events += batch
            guard let next = page.json["next_after"] as? Int, !batch.isEmpty else { return events }
            after = next
        }
    }

    @Test func anAdminReadsEveryEventInLogOrderWithPersonalFields() async throws {
        let (server, admin) = try await Self.serverWithAdmin()
        let ada = try await Self.register(server, "ada@example.com")
        let events = try await Self.allEvents(server, token: admin)
        let positions = events.compactMap { $0["position"] as? Int }
        #expect(positions == Array(1...positions.count) && positions.count >= 4)
        let head = try await server.call("GET", "/v1/events?after=0&limit=1", token: admin)
        #expect(head.json["head"] as? Int == positions.count)
        let registered = try #require(
            events.first { $0["type"] as? String == "UserRegistered" && $0["stream"] as? String == ada })
        #expect((registered["data"] as? [String: Any])?["role"] as? String == "TARGET")
        let personal = try #require(registered["personal"] as? [String: Any])
        #expect(personal["email"] as? String == "ada@example.com" && personal["first_name"] as? String == "Ada")
        #expect(registered["actor"] as? String == "anonymous" && registered["recorded_at"] is String)
        #expect(registered["stream_version"] as? Int == 1 && registered["correlation_id"] is String)
        // Each event names its chain hash: the last one the head authctl signs.
        #expect(events.allSatisfy { ($0["chain_hash"] as? String)?.utf8.count == 64 })
        let signed = try runAuthctl(["--data", server.data, "head"])
        let headLine = try #require(
            try JSONSerialization.jsonObject(with: Data(signed.stdout.utf8)) as? [String: Any], "\(signed.stderr)")
        #expect(headLine["position"] as? Int == positions.count)
        #expect(events.last?["chain_hash"] as? String == headLine["hash"] as? String)
        // No secret in any part: no password hash, no token hash.
        let everything = try await server.call("GET", "/v1/events?limit=1000", token: admin)
        let text = String(decoding: everything.body, as: UTF8.self)
        #expect(!text.contains("$argon2") && !text.contains("password_hash") && !text.contains("token_hash"))
    }

    @Test func erasedUsersEventsComeWithoutPersonalFields() async throws {
        let (server, admin) = try await Self.serverWithAdmin()
        let gone = try await Self.register(server, "gone@example.com", first: "Gone")
        let kept = try await Self.register(server, "kept@example.com", first: "Kept")
        #expect(try await server.call("POST", "/v1/users/\(gone)/erase", token: admin).status == 204)
        let events = try await Self.allEvents(server, token: admin, limit: 1_000)
        let goneEvents = events.filter { $0["stream"] as? String == gone }
        #expect(goneEvents.map { $0["type"] as? String }.contains("UserErased"))
        #expect(goneEvents.allSatisfy { $0["personal"] == nil })
        #expect(goneEvents.first { $0["type"] as? String == "UserRegistered" }?["data"] != nil)
        let keptRegistration = events.first {
            $0["stream"] as? String == kept && $0["type"] as? String == "UserRegistered"
        }
        #expect((keptRegistration?["personal"] as? [String: Any])?["first_name"] as? String == "Kept")
        #expect(
            !String(decoding: try await server.call("GET", "/v1/events?limit=1000", token: admin).body, as: UTF8.self)
                .contains("Gone"))
    }

    @Test func onlyAnAdminReadsTheFeedAndBadQueriesAre400() async throws {
        let (server, admin) = try await Self.serverWithAdmin()
        _ = try await Self.register(server, "target@example.com")
        let login = try await server.call(
            "POST", "/v1/sessions", json: ["email": "target@example.com", "password": "correct horse battery"])
        let target = try #require(login.json["access_token"] as? String)
        #expect(try await server.call("GET", "/v1/events").status == 401)
        let refused = try await server.call("GET", "/v1/events", token: target)
        #expect(refused.status == 403 && refused.code == "forbidden")
        for query in ["after=-1", "after=x", "limit=0", "limit=1001", "after=18446744073709551616"] {
            let bad = try await server.call("GET", "/v1/events?\(query)", token: admin)
            #expect(bad.status == 400 && bad.code == "bad_request", "\(query)")
        }
        let past = try await server.call("GET", "/v1/events?after=18446744073709551615", token: admin)
        #expect(past.status == 200 && (past.json["events"] as? [Any])?.isEmpty == true)
    }
}
