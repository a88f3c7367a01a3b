import AuthDomain
import EventLog
import Foundation

/// A user as the API returns them: the seed's snake_case fields, never password_hash,
/// password_reset_token or refresh_token_hash.
///
/// Written as bytes by hand, keys sorted: this is the body of the hottest route, and built
/// from interpolated strings it took more than half of that route's time in authd.
enum UserJSON {
    static func write(_ user: UserState, to out: inout [UInt8]) {
        func raw(_ text: StaticString) { text.withUTF8Buffer { out.append(contentsOf: $0) } }
        func string(_ value: String) { JSONString.append(quoting: value, to: &out) }
        func optional(_ value: String?) {
            guard let value else { return raw("null") }
            string(value)
        }
        func time(_ value: Timestamp?) {
            guard let value else { return raw("null") }
            out.append(0x22)
            value.writeRFC3339(to: &out)
            out.append(0x22)
        }
        raw("{\"created_at\":")
        time(user.createdAt)
        raw(",\"deleted_at\":")
        time(user.deletedAt)
        raw(",\"email\":")
        string(user.email)
        raw(",\"email_verified_at\":")
        time(user.emailVerifiedAt)
        raw(",\"first_name\":")
        string(user.firstName)
        raw(",\"id\":\"")
        user.id.appendLowercased(to: &out)
        raw("\",\"last_login_at\":")
        time(user.lastLoginAt)
        raw(",\"last_name\":")
        string(user.lastName)
        raw(",\"password_reset_expires\":")
        time(user.passwordReset?.expiresAt)
        raw(",\"phone\":")
        optional(user.phone)
        raw(",\"role\":\"")
        out.append(contentsOf: user.role.rawValue.utf8)
        raw("\",\"stripe_customer_id\":")
        optional(user.stripeCustomerID)
        raw(",\"updated_at\":")
        time(user.updatedAt)
        raw("}")
    }
}
