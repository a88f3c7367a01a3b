import AuthDomain
import EventLog
import Foundation

extension AuthService {
    /// What registration asks for. The role is never among it: new users are TARGET.
    public struct Registration: Sendable {
        public var email: String
        public var password: String
        public var firstName: String
        public var lastName: String
        public var phone: String?

        public init(email: String, password: String, firstName: String, lastName: String, phone: String? = nil) {
            self.email = email
            self.password = password
            self.firstName = firstName
            self.lastName = lastName
            self.phone = phone
        }
    }

    /// Registers a user and mails an email verification token. Two registrations of one
    /// email: the uniqueness claim rides on the append, so exactly one wins.
    public func register(_ form: Registration, correlationID: String) async throws -> UserState {
        let email = try EmailAddress(form.email)
        let firstName = try ProfileField.name(form.firstName, field: "first_name")
        let lastName = try ProfileField.name(form.lastName, field: "last_name")
        let phone = try form.phone.flatMap { phone throws(Rejection) in try ProfileField.phone(phone) }
        let password = try configuration.passwordPolicy.check(form.password)
        // Spare the hashing cost for an address that is plainly taken; the claim decides races.
        if try states.owner(ofEmail: email) != nil {
            recordUnchangedLog()
            throw Rejection.emailTaken
        }
        let hashing = configuration.hashing
        let passwordHash = try await pool.run { try hashing.hash(password) }
        let id = UUID.timeOrdered(at: clock())
        let token = UserToken(userID: id, secret: try secret())
        let command = Register(
            email: email, passwordHash: passwordHash, firstName: firstName, lastName: lastName, phone: phone,
            verificationTokenHash: token.secretHash, policy: configuration.rules)
        _ = try keys.createDataKey(for: id)
        let user: UserState
        do {
            user = try await execute(
                on: id, actor: .anonymous, correlationID: correlationID,
                claims: { _ in [UniqueClaim(.claim, scope: EmailAddress.claimScope, key: email.claimKey)] },
                command: { _ in command })
        } catch {
            _ = try? keys.destroyDataKey(for: id)  // the user was never written: drop their key
            throw error
        }
        // The user is written: a mail that cannot be queued now (a full disk, say) must not
        // turn the registration into an error; a new verification mail can be asked for.
        try? await mailVerification(token, to: user)
        return user
    }

    /// The user holding `email`, if the address is valid and taken.
    public func userID(forEmail email: String) throws -> UUID? {
        guard let address = try? EmailAddress(email) else { return nil }
        return try states.owner(ofEmail: address)
    }
}
