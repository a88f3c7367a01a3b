import EventLog
import Foundation

extension UserState {
    /// The state after `event`, recorded at `time`. Pure: the fold of a stream is
    /// `events.reduce(UserState(id:)) { $0.evolve($1.event, at: $1.time) }`.
    public func evolve(_ event: UserEvent, at time: Timestamp) -> UserState {
        var next = self
        next.version += 1
        next.updatedAt = time
        switch event {
        case .registered(let registered):
            next.email = registered.email
            next.passwordHash = registered.passwordHash
            next.firstName = registered.firstName
            next.lastName = registered.lastName
            next.phone = registered.phone
            next.role = registered.role
            next.createdAt = time
        case .emailVerificationRequested(let issued):
            next.emailVerification = PendingToken(hash: issued.tokenHash, expiresAt: issued.expiresAt)
        case .emailVerified:
            next.emailVerifiedAt = time
            next.emailVerification = nil
        case .loginSucceeded(let started):
            next.lastLoginAt = time
            next.failedLogins = 0
            next.lockedUntil = nil
            next.session = Session(
                id: started.sessionID, tokenHash: started.refreshTokenHash, startedAt: time, lastUsedAt: time)
        case .loginFailed(let failed):
            next.failedLogins = failed.consecutiveFailures
            if let until = failed.lockedUntil { next.lockedUntil = until }
        case .refreshTokenRotated(let rotated):
            if var session = next.session, session.id == rotated.sessionID {
                session.previousTokenHash = session.tokenHash
                session.rotatedAt = time
                session.tokenHash = rotated.refreshTokenHash
                session.lastUsedAt = time
                next.session = session
            }
        case .refreshTokenReuseDetected(let sessionID), .loggedOut(let sessionID):
            if next.session?.id == sessionID { next.session = nil }
        case .passwordResetRequested(let issued):
            next.passwordReset = PendingToken(hash: issued.tokenHash, expiresAt: issued.expiresAt)
        case .passwordResetCompleted(let hash):
            next.passwordHash = hash
            next.passwordReset = nil
            next.failedLogins = 0
            next.lockedUntil = nil
            next.endSessions(at: time)
        case .passwordChanged(let hash):
            next.passwordHash = hash
            next.endSessions(at: time)
        case .passwordRehashed(let hash):
            next.passwordHash = hash
        case .profileUpdated(let changes):
            if let first = changes.firstName { next.firstName = first }
            if let last = changes.lastName { next.lastName = last }
            if let phone = changes.phone { next.phone = phone }
        case .roleChanged(_, let to):
            next.role = to
            next.endSessions(at: time)
        case .stripeCustomerLinked(let customer):
            next.stripeCustomerID = customer
        case .softDeleted:
            next.deletedAt = time
            next.endSessions(at: time)
        case .restored:
            next.deletedAt = nil
        case .erased:
            next.isErased = true
            next.deletedAt = next.deletedAt ?? time
            next.email = ""
            next.passwordHash = ""
            next.firstName = ""
            next.lastName = ""
            next.phone = nil
            next.stripeCustomerID = nil
            next.emailVerification = nil
            next.passwordReset = nil
            next.endSessions(at: time)
        }
        return next
    }

    /// Ends the refresh session and refuses access tokens issued before `time`.
    mutating func endSessions(at time: Timestamp) {
        session = nil
        tokensValidAfter = time
    }

    /// The fold of a stream's events, each with its recording time.
    public static func fold(id: UUID, _ events: some Sequence<(event: UserEvent, time: Timestamp)>) -> UserState {
        events.reduce(UserState(id: id)) { $0.evolve($1.event, at: $1.time) }
    }
}
