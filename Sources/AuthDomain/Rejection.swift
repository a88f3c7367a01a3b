/// Why a command was refused. `code` is stable: the HTTP layer and scripts rely on it.
public enum Rejection: Error, Hashable, Sendable, CustomStringConvertible {
    /// Unknown email, wrong password, soft-deleted or locked user: one answer for all.
    case invalidCredentials
    /// A refresh, reset or verification token that is unknown, expired, used or reused.
    case invalidToken
    /// The refresh token rotated away most recently, presented again within the grace window.
    case tokenRotated
    case emailTaken
    case stripeCustomerTaken
    case invalidEmail(String)
    case weakPassword(String)
    case invalidField(field: String, reason: String)
    case forbidden
    /// A service credential without the scope the work needs (``CredentialScope``).
    case insufficientScope
    case notFound
    case userDeleted
    case userErased
    case notDeleted
    case cannotChangeOwnRole
    /// An ADMIN asked to erase their own account: another ADMIN, or `authctl erase`, must.
    case cannotEraseOwnAccount
    /// The stream kept changing under the command; retrying later may work.
    case busy
    /// The account's notices of the last hour are used up (``UserState/noticesMailedPerHour``)
    /// and the command's notice must reach its holder: asked again after `retryAfter` seconds,
    /// it may go through.
    case noticesUsedUp(retryAfter: Int)

    public var code: String {
        switch self {
        case .invalidCredentials: return "invalid_credentials"
        case .invalidToken: return "invalid_token"
        case .tokenRotated: return "token_rotated"
        case .emailTaken: return "email_taken"
        case .stripeCustomerTaken: return "stripe_customer_taken"
        case .invalidEmail: return "invalid_email"
        case .weakPassword: return "weak_password"
        case .invalidField: return "invalid_field"
        case .forbidden: return "forbidden"
        case .insufficientScope: return "insufficient_scope"
        case .notFound: return "not_found"
        case .userDeleted: return "user_deleted"
        case .userErased: return "user_erased"
        case .notDeleted: return "not_deleted"
        case .cannotChangeOwnRole: return "cannot_change_own_role"
        case .cannotEraseOwnAccount: return "cannot_erase_own_account"
        case .busy: return "busy"
        case .noticesUsedUp: return "rate_limited"
        }
    }

    public var description: String {
        switch self {
        case .invalidCredentials: return "the email or password is wrong"
        case .invalidToken: return "the token is not valid"
        case .tokenRotated: return "this refresh token was just replaced; use the newer one"
        case .emailTaken: return "an account with this email exists"
        case .stripeCustomerTaken: return "this Stripe customer is linked to another user"
        case .invalidEmail(let reason): return "invalid email: \(reason)"
        case .weakPassword(let reason): return "password refused: \(reason)"
        case .invalidField(let field, let reason): return "invalid \(field): \(reason)"
        case .forbidden: return "not allowed"
        case .insufficientScope: return "the credential's scopes do not allow this"
        case .notFound: return "no such user"
        case .userDeleted: return "the user is deleted"
        case .userErased: return "the user's personal data was erased for good"
        case .notDeleted: return "the user is not deleted"
        case .cannotChangeOwnRole: return "an admin cannot change their own role"
        case .cannotEraseOwnAccount:
            return "an admin cannot erase their own account; another admin, or authctl erase, can"
        case .busy: return "the user changed too often while this command ran; try again"
        case .noticesUsedUp:
            return
                "the account's notices of the last hour are used up, and this one must reach its address; retry later"
        }
    }
}
