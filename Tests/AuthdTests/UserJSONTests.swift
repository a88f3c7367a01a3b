import AuthDomain
import EventLog
import Foundation
import TestSupport
import Testing

@testable import AuthHTTP

@Suite(.ownThreads) struct UserJSONTests {
    /// The body as it was first written, from interpolated strings: the bytes must not change.
    func interpolated(_ user: UserState) -> String {
        func string(_ value: String) -> String { JSONString.quote(value) }
        func optional(_ value: String?) -> String { value.map(string) ?? "null" }
        func time(_ value: Timestamp?) -> String { value.map { "\"\($0)\"" } ?? "null" }
        return
            "{\"created_at\":\"\(user.createdAt)\",\"deleted_at\":\(time(user.deletedAt)),\"email\":\(string(user.email)),"
            + "\"email_verified_at\":\(time(user.emailVerifiedAt)),\"first_name\":\(string(user.firstName)),"
            + "\"id\":\"\(user.id.uuidString.lowercased())\",\"last_login_at\":\(time(user.lastLoginAt)),"
            + "\"last_name\":\(string(user.lastName)),\"password_reset_expires\":\(time(user.passwordReset?.expiresAt)),"
            + "\"phone\":\(optional(user.phone)),\"role\":\"\(user.role.rawValue)\","
            + "\"stripe_customer_id\":\(optional(user.stripeCustomerID)),\"updated_at\":\"\(user.updatedAt)\"}"
    }

    @Test func theBodyIsTheInterpolatedOneByteForByteAndValidJSON() throws {
        var random = SplitMix64(seed: 11)
        let texts = [
            "", "Zoë", "O\"Brien", "back\\slash", "tab\tnew\nline", "\u{1}", "\u{2028}", "名前", "a@example.com",
        ]
        func text() -> String { texts[Int(random.next() % UInt64(texts.count))] }
        func time() -> Timestamp {
            Timestamp(microsecondsSince1970: Int64(random.next() % 4_000_000_000_000_000) - 100_000_000_000_000)
        }
        func maybe<T>(_ make: () -> T) -> T? { random.next() % 2 == 0 ? nil : make() }
        for _ in 0..<2_000 {
            var user = UserState(
                id: UUID(uuid: withUnsafeBytes(of: (random.next(), random.next())) { $0.load(as: uuid_t.self) }))
            user.email = text()
            user.firstName = text()
            user.lastName = text()
            user.phone = maybe(text)
            user.stripeCustomerID = maybe(text)
            user.role = Role.allCases[Int(random.next() % 4)]
            user.createdAt = time()
            user.updatedAt = time()
            user.deletedAt = maybe(time)
            user.emailVerifiedAt = maybe(time)
            user.lastLoginAt = maybe(time)
            user.passwordReset = maybe {
                UserState.PendingToken(hash: TokenHash(of: Array("t".utf8)), expiresAt: time())
            }
            user.passwordHash = "never in the body"
            var bytes: [UInt8] = []
            UserJSON.write(user, to: &bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == interpolated(user))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            #expect(object["id"] as? String == user.id.uuidString.lowercased())
            #expect(object["password_hash"] == nil)
        }
    }
}
