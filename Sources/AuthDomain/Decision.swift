import EventLog

/// What a command decided: the events to append (possibly some even when it is refused,
/// like `LoginFailed`), and whether it succeeded.
public struct Decision: Hashable, Sendable {
    public var events: [UserEvent]
    public var rejection: Rejection?

    public static func accept(_ events: [UserEvent]) -> Decision { Decision(events: events, rejection: nil) }
    public static func reject(_ rejection: Rejection, recording events: [UserEvent] = []) -> Decision {
        Decision(events: events, rejection: rejection)
    }
}

/// A command on one user. `decide` is pure: no clock, randomness or I/O beyond its arguments.
public protocol UserCommand: Sendable {
    func decide(_ state: UserState, now: Timestamp) -> Decision
}

extension Decision {
    /// A signed-in user's current password did not match (changing the password or the email
    /// address): refused as a wrong login is, recording `LoginFailed` for the audit trail.
    static func wrongCurrentPassword(_ state: UserState) -> Decision {
        let (failures, overflow) = state.failedLogins.addingReportingOverflow(1)
        return .reject(
            .invalidCredentials,
            recording: [.loginFailed(.init(consecutiveFailures: overflow ? .max : failures, lockedUntil: nil))])
    }
}
