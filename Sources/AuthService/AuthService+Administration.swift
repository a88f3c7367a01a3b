import AuthDomain
import EventLog
import Foundation

extension AuthService {
    /// Gives `userID` another role (ADMIN only, never their own); ends that user's sessions.
    @discardableResult
    public func changeRole(of userID: UUID, to role: Role, actor: Actor, correlationID: String) async throws
        -> UserState
    {
        try await execute(on: userID, actor: actor, correlationID: correlationID) { _ in
            ChangeRole(actor: actor, role: role)
        }
    }

    /// Changes names and phone; `nil` leaves a field as it is, an empty phone clears it.
    @discardableResult
    public func updateProfile(
        of userID: UUID, firstName: String?, lastName: String?, phone: String?, actor: Actor, correlationID: String
    ) async throws -> UserState {
        var changes = UserEvent.ProfileChanges()
        changes.firstName = try firstName.map { name throws(Rejection) in
            try ProfileField.name(name, field: "first_name")
        }
        changes.lastName = try lastName.map { name throws(Rejection) in try ProfileField.name(name, field: "last_name")
        }
        if let phone { changes.phone = Optional.some(try ProfileField.phone(phone)) }
        return try await execute(on: userID, actor: actor, correlationID: correlationID) { [changes] _ in
            UpdateProfile(actor: actor, changes: changes)
        }
    }

    /// Links a Stripe customer id, unique across users; a previous id of this user is released.
    @discardableResult
    public func linkStripeCustomer(
        of userID: UUID, customerID raw: String, actor: Actor, correlationID: String
    ) async throws -> UserState {
        let customerID = try LinkStripeCustomer.validate(raw)
        let scope = LinkStripeCustomer.claimScope
        return try await execute(
            on: userID, actor: actor, correlationID: correlationID,
            claims: { state in
                var claims = [UniqueClaim(.claim, scope: scope, key: LinkStripeCustomer.claimKey(customerID))]
                if let old = state.stripeCustomerID {
                    claims.append(UniqueClaim(.release, scope: scope, key: LinkStripeCustomer.claimKey(old)))
                }
                return claims
            },
            command: { _ in LinkStripeCustomer(actor: actor, customerID: customerID) })
    }

    /// Removes the user's Stripe customer id and releases its claim; none linked, nothing changes.
    @discardableResult
    public func unlinkStripeCustomer(of userID: UUID, actor: Actor, correlationID: String) async throws -> UserState {
        try await execute(
            on: userID, actor: actor, correlationID: correlationID,
            claims: { state in
                guard let old = state.stripeCustomerID else { return [] }
                return [
                    UniqueClaim(.release, scope: LinkStripeCustomer.claimScope, key: LinkStripeCustomer.claimKey(old))
                ]
            },
            command: { _ in UnlinkStripeCustomer(actor: actor) })
    }

    /// Soft-deletes: the user can no longer log in or refresh (``SoftDelete``). The user
    /// themself gives `currentPassword`, checked as a password change checks it; an email never
    /// verified is released, a verified one stays reserved for a restore.
    @discardableResult
    public func softDelete(_ userID: UUID, actor: Actor, currentPassword: String? = nil, correlationID: String)
        async throws -> UserState
    {
        let check = actor.isUser(userID) ? try await checkCurrentPassword(of: userID, currentPassword ?? "") : nil
        return try await execute(
            on: userID, actor: actor, correlationID: correlationID,
            claims: { Self.unverifiedEmailClaim(.release, of: $0) },
            command: { current in
                // The password changed meanwhile: the check above no longer counts.
                SoftDelete(
                    actor: actor, currentPasswordMatches: check.map { $0.matches && current.passwordHash == $0.stored })
            })
    }

    /// Undoes a soft-delete (ADMIN); an email the delete released is claimed again (409
    /// `email_taken` when someone registered it meanwhile).
    @discardableResult
    public func restore(_ userID: UUID, actor: Actor, correlationID: String) async throws -> UserState {
        try await execute(
            on: userID, actor: actor, correlationID: correlationID,
            claims: { Self.unverifiedEmailClaim(.claim, of: $0) },
            command: { _ in Restore(actor: actor) })
    }

    /// `action` on the email claim of `state` when its address was never verified (what a
    /// soft-delete releases and a restore takes back: ``UserState/holdsEmailClaim``); none
    /// otherwise.
    static func unverifiedEmailClaim(_ action: UniqueClaim.Action, of state: UserState) -> [UniqueClaim] {
        guard state.emailVerifiedAt == nil, let email = try? EmailAddress(state.email) else { return [] }
        return [UniqueClaim(action, scope: EmailAddress.claimScope, key: email.claimKey)]
    }
}

extension AuthService {
    /// Erases the user's personal data for good (ADMIN or the system), in two steps: appends
    /// `UserErased` with the release of the email and Stripe claims, then destroys the data
    /// key (``destroyDataKey(ofErased:)``, its slot overwritten and synced) and deletes the
    /// user's waiting mail. Every sealed field of the stream is unreadable afterwards; the
    /// events' types, times and actors stay, and the hash chain still verifies.
    ///
    /// Erasing an erased user appends nothing and runs the second step again, which finishes
    /// an erase stopped after its event (a killed process): the key and the waiting mail
    /// (found by the user's id, since their address can no longer be read) are removed.
    @discardableResult
    public func erase(_ userID: UUID, actor: Actor, correlationID: String) async throws -> UserState {
        let before = try load(userID)
        if before.isErased {
            recordUnchangedLog()
            try destroyDataKey(ofErased: before)
            try await mailer.purge(user: userID)
            return before
        }
        let erased = try await execute(
            on: userID, actor: actor, correlationID: correlationID,
            claims: { state in
                var claims: [UniqueClaim] = []
                if let email = try? EmailAddress(state.email) {
                    claims.append(UniqueClaim(.release, scope: EmailAddress.claimScope, key: email.claimKey))
                }
                if let customer = state.stripeCustomerID {
                    claims.append(
                        UniqueClaim(
                            .release, scope: LinkStripeCustomer.claimScope, key: LinkStripeCustomer.claimKey(customer)))
                }
                return claims
            },
            command: { _ in Erase(actor: actor) })
        try destroyDataKey(ofErased: erased)
        try await mailer.purge(user: userID)
        // Mail queued by a release whose messages did not name their user.
        if !before.email.isEmpty { try await mailer.purge(recipient: before.email) }
        return erased
    }

    /// Deletes the held mail of every user who is erased now, and returns how many users' mail
    /// went. An erase deletes the mail its own process holds; this finds the rest: a cluster
    /// node's outbox holding mail of a user erased through another node, and mail queued by a
    /// request decided before an erase committed but queued after the erase's purge. authd
    /// runs it every few seconds. `isErased` reads whether a user is erased now without
    /// opening their personal fields (a projection's public row): no data key is fetched or
    /// kept for it.
    @discardableResult
    public func purgeMailOfErasedUsers(isErased: (UUID) throws -> Bool) async throws -> Int {
        var purged = 0
        for user in try mailer.heldUsers() where (try? isErased(user)) == true {
            try await mailer.purge(user: user)
            purged += 1
        }
        return purged
    }

    /// The erase's second step: destroys the data key of `user`, whose stream records
    /// `UserErased` (its slot in the key store is overwritten and synced). Nothing else
    /// destroys a key of a user who exists, and no read does: a state that is not erased is
    /// refused with ``Rejection/forbidden``. Destroying a key already gone does nothing.
    public func destroyDataKey(ofErased user: UserState) throws {
        guard user.isErased else { throw Rejection.forbidden }
        try keys.destroyDataKey(for: user.id)
    }
}
