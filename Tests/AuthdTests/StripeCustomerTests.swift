import Foundation
import TestSupport
import Testing

/// The Stripe customer id over HTTP and authctl, against a real authd: linked by an ADMIN,
/// unique across users in the append's transaction, found by its index, unlinked and released.
@Suite(.ownThreads) struct StripeCustomerTests {
    @Test func anAdminLinksFindsAndUnlinksAndAClashIs409() async throws {
        let authd = try AccountServer()
        let server = authd.server
        let admin = try await authd.adminToken()
        let ada = try await authd.register("ada@example.com")
        let bob = try await authd.register("bob@example.com")
        let target = try await authd.login("bob@example.com")

        let linked = try await server.call(
            "PUT", "/v1/users/\(ada)/stripe-customer", json: ["stripe_customer_id": "cus_Ada123"], token: admin)
        #expect(linked.status == 200, "\(String(decoding: linked.body, as: UTF8.self))")
        #expect(linked.json["stripe_customer_id"] as? String == "cus_Ada123")
        #expect(linked.headers["authlog-position"] != nil)

        let found = try await server.call("GET", "/v1/users?stripe_customer_id=cus_Ada123", token: admin)
        #expect(found.status == 200)
        let users = try #require(found.json["users"] as? [[String: Any]])
        #expect(users.map { $0["id"] as? String } == [ada])
        let none = try await server.call("GET", "/v1/users?stripe_customer_id=cus_Nobody", token: admin)
        #expect(none.status == 200 && (none.json["users"] as? [Any])?.isEmpty == true)

        // Another user's id: refused, nothing recorded for bob.
        let before = try await authd.trail(bob, admin: admin).count
        let clash = try await server.call(
            "PUT", "/v1/users/\(bob)/stripe-customer", json: ["stripe_customer_id": "cus_Ada123"], token: admin)
        #expect(clash.status == 409 && clash.code == "stripe_customer_taken")
        #expect(clash.headers["content-type"] == "application/problem+json")
        #expect(try await authd.trail(bob, admin: admin).count == before)

        // A TARGET may neither link (even themselves) nor unlink nor look up.
        for (method, path, body) in [
            ("PUT", "/v1/users/\(bob)/stripe-customer", ["stripe_customer_id": "cus_Bob"]),
            ("DELETE", "/v1/users/\(ada)/stripe-customer", nil),
            ("GET", "/v1/users?stripe_customer_id=cus_Ada123", nil),
        ] as [(String, String, [String: Any]?)] {
            let reply = try await server.call(method, path, json: body, token: target)
            #expect(reply.status == 403 && reply.code == "forbidden", "\(method) \(path): \(reply.status)")
        }
        let invalid = try await server.call(
            "PUT", "/v1/users/\(bob)/stripe-customer", json: ["stripe_customer_id": "cus with space"], token: admin)
        #expect(invalid.status == 422 && invalid.code == "invalid_field")

        // Unlinking releases the id: bob may then take it, and the index finds bob.
        let unlinked = try await server.call("DELETE", "/v1/users/\(ada)/stripe-customer", token: admin)
        #expect(unlinked.status == 204)
        let adaNow = try await server.call("GET", "/v1/users/\(ada)", token: admin)
        #expect(adaNow.json["stripe_customer_id"] is NSNull)
        let again = try await server.call("DELETE", "/v1/users/\(ada)/stripe-customer", token: admin)
        #expect(again.status == 204)
        let taken = try await server.call(
            "PUT", "/v1/users/\(bob)/stripe-customer", json: ["stripe_customer_id": "cus_Ada123"], token: admin)
        #expect(taken.status == 200)
        let moved = try await server.call("GET", "/v1/users?stripe_customer_id=cus_Ada123", token: admin)
        #expect((moved.json["users"] as? [[String: Any]])?.map { $0["id"] as? String } == [bob])

        // The trail: linked, then unlinked (once: the second unlink recorded nothing).
        let types = try await authd.trail(ada, admin: admin).compactMap { $0["type"] as? String }
        #expect(types.filter { $0.hasPrefix("StripeCustomer") } == ["StripeCustomerLinked", "StripeCustomerUnlinked"])
        let unlink = try await authd.trail(ada, admin: admin).last
        #expect((unlink?["changes"] as? [String: String])?["stripe_customer_id"] == "")
    }

    @Test func authctlLinksBesideARunningAuthdAndFindsByTheIndex() async throws {
        let authd = try AccountServer()
        let data = authd.data
        let ada = try await authd.register("ada@example.com")
        _ = try await authd.register("bob@example.com")

        let link = try runAuthctl(["--data", data, "stripe-link", "ada@example.com", "cus_FromCLI"])
        #expect(link.status == 0, "\(link.stderr)")
        let admin = try await authd.adminToken()
        let found = try await authd.server.call("GET", "/v1/users?stripe_customer_id=cus_FromCLI", token: admin)
        #expect((found.json["users"] as? [[String: Any]])?.map { $0["id"] as? String } == [ada])
        #expect(try await authd.trail(ada, admin: admin).last?["actor"] as? String == "system")

        let clash = try runAuthctl(["--data", data, "stripe-link", "bob@example.com", "cus_FromCLI"])
        #expect(clash.status == 2)
        #expect(clash.stderr.contains("stripe_customer_taken"), "\(clash.stderr)")
        #expect(clash.stderr.split(separator: "\n").count == 1)

        let get = try runAuthctl(["--data", data, "users", "get", "--stripe-customer", "cus_FromCLI", "--json"])
        #expect(get.status == 0, "\(get.stderr)")
        let fields = try JSONSerialization.jsonObject(with: Data(get.stdout.utf8)) as? [String: Any]
        #expect(fields?["id"] as? String == ada && fields?["stripe_customer_id"] as? String == "cus_FromCLI")
        let missing = try runAuthctl(["--data", data, "users", "get", "--stripe-customer", "cus_Nobody"])
        #expect(missing.status == 2)
        let both = try runAuthctl(["--data", data, "users", "get", ada, "--stripe-customer", "cus_FromCLI"])
        #expect(both.status == 64)

        let unlink = try runAuthctl(["--data", data, "stripe-unlink", ada])
        #expect(unlink.status == 0, "\(unlink.stderr)")
        let gone = try runAuthctl(["--data", data, "users", "get", "--stripe-customer", "cus_FromCLI"])
        #expect(gone.status == 2)
        let relink = try runAuthctl(["--data", data, "stripe-link", "bob@example.com", "cus_FromCLI"])
        #expect(relink.status == 0, "\(relink.stderr)")
        let unknown = try runAuthctl(["--data", data, "stripe-link", "nobody@example.com", "cus_X"])
        #expect(unknown.status == 2)
    }
}
