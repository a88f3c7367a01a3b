import AuthDomain
import DataProtection
import EventLog
import EventSealing
import Foundation
import Projections

extension AuthService {
    /// The user as the fold of their stream (an empty state when there is none).
    ///
    /// Personal fields are opened with the user's data key as they are read; once the key is
    /// destroyed they come back empty. Finding an erased user whose key still exists (an erase
    /// interrupted between its event and the key's destruction) completes the erase.
    ///
    /// With a projection attached it reads the user's row (one look-up) when the row is at the
    /// stream's current version, and folds the stream otherwise (a writer without the
    /// projector appended meanwhile): the answer is the same either way.
    public func load(_ id: UUID) throws -> UserState {
        if let projection, let row = try projection.user(id: id), row.version == (try log.currentVersion(of: id)) {
            if row.isErased { try keys.destroyDataKey(for: id) }
            return row
        }
        let recorded = try log.readStream(id, from: 1)
        var state = UserState(id: id)
        for event in recorded {
            let decoded = try sealing.decode(event)
            state = state.evolve(decoded, at: event.recordedAt)
        }
        if state.isErased { try keys.destroyDataKey(for: id) }
        return state
    }

    /// Decides `command` against the user's current state and appends what it decided,
    /// expecting the version it decided from; on a conflict it reads again and decides again.
    /// Returns the new state, or throws the command's ``Rejection`` (after appending any
    /// events the rejection records, like `LoginFailed`).
    @discardableResult
    func execute(
        on id: UUID, actor: Actor, correlationID: String, claims: @escaping (UserState) -> [UniqueClaim] = { _ in [] },
        command: (UserState) throws -> any UserCommand
    ) async throws -> UserState {
        for _ in 0..<configuration.maximumAttempts {
            let state = try load(id)
            do {
                return try await executeOnce(
                    on: id, from: state, actor: actor, correlationID: correlationID, claims: claims(state),
                    try command(state))
            } catch EventLogError.conflict {
                continue
            } catch EventLogError.uniqueViolation(let scope) {
                throw scope == EmailAddress.claimScope ? Rejection.emailTaken : Rejection.stripeCustomerTaken
            }
        }
        throw Rejection.busy
    }
}

extension AuthService {
    /// One decision from a state already loaded, appended expecting that state's version;
    /// `claims` ride on the append only when the command succeeds. A conflict or a unique
    /// violation is thrown to the caller as the log's error.
    func executeOnce(
        on id: UUID, from state: UserState, actor: Actor, correlationID: String, claims: [UniqueClaim] = [],
        _ command: any UserCommand
    ) async throws -> UserState {
        let decision = command.decide(state, now: clock())
        if decision.events.isEmpty {
            if let rejection = decision.rejection { throw rejection }
            return state
        }
        let request = AppendRequest(
            stream: id, expected: state.exists ? .exactly(state.version) : .noStream,
            events: try sealing.newEvents(
                decision.events, for: id, after: state.version, actor: actor, correlationID: correlationID),
            claims: decision.rejection == nil ? claims : [])
        let result = try await log.append([request])[0].get()
        if let rejection = decision.rejection { throw rejection }
        return decision.events.reduce(state) { $0.evolve($1, at: result.recordedAt) }
    }
}
