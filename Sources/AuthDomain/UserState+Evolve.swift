import EventLog
import Foundation

extension UserState {
    /// The state after `event`, recorded at `time`. Pure: the fold of a stream is
    /// `events.reduce(UserState(id:)) { $0.evolve($1.event, at: $1.time) }`.
    public func evolve(_ event: UserEvent, at time: Timestamp) -> UserState {
        var next = self
        next.apply(event, at: time)
        return next
    }

    /// The state after `events`, all recorded at `time` (one append's), and those of them
    /// whose notice is due: the ones the fold noted (``noteNotice(at:)``), which the shell mails.
    public func evolve(_ events: [UserEvent], at time: Timestamp) -> (state: UserState, noticesDue: [UserEvent]) {
        var state = self
        var due: [UserEvent] = []
        for event in events {
            let noted = state.noticeTimes  // shares its storage: unchanged, the comparison is one look
            state.apply(event, at: time)
            if state.noticeTimes != noted { due.append(event) }
        }
        return (state, due)
    }

    /// ``evolve(_:at:)`` in place: what a fold over millions of events uses to avoid copying
    /// the state for every event.
    public mutating func apply(_ event: UserEvent, at time: Timestamp) {
        self.version += 1
        self.updatedAt = time
        switch event {
        case .registered(let registered):
            self.email = registered.email
            self.passwordHash = registered.passwordHash
            self.firstName = registered.firstName
            self.lastName = registered.lastName
            self.phone = registered.phone
            self.role = registered.role
            self.createdAt = time
        case .emailVerificationRequested(let issued):
            self.emailVerification = PendingToken(hash: issued.tokenHash, expiresAt: issued.expiresAt)
            // Requests on their own count; the registration's mail (its second event, in the
            // same append) does not.
            if !(version == 2 && time == createdAt) { Self.note(time, in: &verificationRequestTimes) }
        case .emailVerified:
            self.emailVerifiedAt = time
            self.emailVerification = nil
        case .loginSucceeded(let started):
            self.lastLoginAt = time
            self.failedLogins = 0
            self.lockedUntil = nil
            self.session = Session(
                id: started.sessionID, tokenHash: started.refreshTokenHash, startedAt: time, lastUsedAt: time)
        case .loginFailed(let failed):
            self.failedLogins = failed.consecutiveFailures
            if let until = failed.lockedUntil { self.lockedUntil = until }
        case .refreshTokenRotated(let rotated):
            if var session = self.session, session.id == rotated.sessionID {
                session.rotate(to: rotated.refreshTokenHash, at: time)
                self.session = session
            }
        case .refreshTokenReuseDetected(let sessionID):
            if self.session?.id == sessionID { self.session = nil }
            noteNotice(at: time)
        case .loggedOut(let sessionID):
            if self.session?.id == sessionID { self.session = nil }
        case .passwordResetRequested(let issued):
            self.passwordReset = PendingToken(hash: issued.tokenHash, expiresAt: issued.expiresAt)
            Self.note(time, in: &resetRequestTimes)
        case .passwordResetCompleted(let hash):
            // A new password cancels what the old one started: a pending email change, which
            // whoever knew the old password may have asked for.
            self.passwordHash = hash
            self.passwordReset = nil
            self.emailChange = nil
            self.failedLogins = 0
            self.lockedUntil = nil
            self.endSessions(at: time)
            noteNotice(at: time)
        case .passwordChanged(let hash):
            // As a reset does, and a reset token mailed before the change no longer counts.
            self.passwordHash = hash
            self.passwordReset = nil
            self.emailChange = nil
            self.endSessions(at: time)
            noteNotice(at: time)
        case .passwordRehashed(let hash):
            self.passwordHash = hash
        case .profileUpdated(let changes):
            if let first = changes.firstName { self.firstName = first }
            if let last = changes.lastName { self.lastName = last }
            if let phone = changes.phone { self.phone = phone }
        case .roleChanged(_, let to):
            self.role = to
            self.endSessions(at: time)
        case .stripeCustomerLinked(let customer):
            self.stripeCustomerID = customer
        case .stripeCustomerUnlinked:
            self.stripeCustomerID = nil
        case .emailChangeRequested(let requested):
            self.emailChange = PendingEmailChange(
                newEmail: requested.newEmail,
                token: PendingToken(hash: requested.tokenHash, expiresAt: requested.expiresAt))
            noteNotice(at: time)
        case .emailChanged(let email):
            // The confirmation came through the new address: it is verified from now on, and a
            // verification token mailed to the old one no longer counts.
            // A reset token mailed to the old address no longer counts either, nor do the mails
            // sent there against the new address's hourly limits.
            self.email = email
            self.emailVerifiedAt = time
            self.emailVerification = nil
            self.emailChange = nil
            self.passwordReset = nil
            self.resetRequestTimes = []
            self.verificationRequestTimes = []
            self.noticeTimes = []
        case .softDeleted:
            self.deletedAt = time
            self.endSessions(at: time)
        case .restored:
            self.deletedAt = nil
        case .erased:
            self.isErased = true
            self.deletedAt = self.deletedAt ?? time
            self.clearPersonalFields()
            self.emailVerification = nil
            self.passwordReset = nil
            self.emailChange = nil
            self.endSessions(at: time)
        }
    }

    /// Empties every personal field (the ones sealed with the user's data key): what erasure
    /// leaves, and what a row read without opening its sealed part holds.
    public mutating func clearPersonalFields() {
        email = ""
        passwordHash = ""
        firstName = ""
        lastName = ""
        phone = nil
        stripeCustomerID = nil
        emailChange?.newEmail = ""
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
