import EventLog
import Foundation

extension UserEvent {
    /// The event's fields as the feed shows them, split into public and personal (the sealed
    /// ones, see docs/events.md), under the seed's snake_case names.
    ///
    /// Rules: password hashes and token hashes appear in neither part; a personal part read
    /// without its key (empty strings) is not shown, so callers pass `personal` only for an
    /// event opened with the user's key.
    public var feedFields: (public: [String: FeedValue], personal: [String: FeedValue]) {
        func time(_ timestamp: Timestamp?) -> FeedValue { timestamp.map { .string($0.description) } ?? .null }
        func text(_ value: String?) -> FeedValue { value.map(FeedValue.string) ?? .null }
        func session(_ id: UUID) -> [String: FeedValue] { ["session_id": .string(id.lowercasedText)] }
        switch self {
        case .registered(let registered):
            return (
                ["role": .string(registered.role.rawValue)],
                [
                    "email": .string(registered.email), "first_name": .string(registered.firstName),
                    "last_name": .string(registered.lastName), "phone": text(registered.phone),
                ]
            )
        case .emailVerificationRequested(let issued), .passwordResetRequested(let issued):
            return (["expires_at": time(issued.expiresAt)], [:])
        case .emailVerified, .softDeleted, .restored, .erased, .passwordResetCompleted, .passwordChanged,
            .passwordRehashed:
            return ([:], [:])
        case .loginSucceeded(let started): return (session(started.sessionID), [:])
        case .loginFailed(let failed):
            return (
                [
                    "consecutive_failures": .integer(Int64(failed.consecutiveFailures)),
                    "locked_until": time(failed.lockedUntil),
                ], [:]
            )
        case .refreshTokenRotated(let rotated): return (session(rotated.sessionID), [:])
        case .refreshTokenReuseDetected(let id), .loggedOut(let id): return (session(id), [:])
        case .profileUpdated(let changes):
            var personal: [String: FeedValue] = [:]
            if let first = changes.firstName { personal["first_name"] = .string(first) }
            if let last = changes.lastName { personal["last_name"] = .string(last) }
            if let phone = changes.phone { personal["phone"] = text(phone) }
            return ([:], personal)
        case .roleChanged(let from, let to): return (["from": .string(from.rawValue), "to": .string(to.rawValue)], [:])
        case .stripeCustomerLinked(let customer): return ([:], ["stripe_customer_id": .string(customer)])
        case .stripeCustomerUnlinked: return ([:], [:])
        case .emailChangeRequested(let requested):
            return (["expires_at": time(requested.expiresAt)], ["new_email": .string(requested.newEmail)])
        case .emailChanged(let email): return ([:], ["email": .string(email)])
        }
    }
}
