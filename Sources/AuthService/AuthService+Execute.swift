import AuthDomain
import EventLog
import Foundation

extension AuthService {
    /// The user as the fold of their stream (an empty state when there is none).
    public func load(_ id: UUID) throws -> UserState {
        let recorded = try log.readStream(id, from: 1)
        var state = UserState(id: id)
        for event in recorded {
            let decoded = try event.payload.withUnsafeBytes {
                try UserEvent(type: event.type, schemaVersion: event.schemaVersion, payload: $0)
            }
            state = state.evolve(decoded, at: event.recordedAt)
        }
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
            let decision = try command(state).decide(state, now: clock())
            if decision.events.isEmpty {
                if let rejection = decision.rejection { throw rejection }
                return state
            }
            let request = AppendRequest(
                stream: id, expected: state.exists ? .exactly(state.version) : .noStream,
                events: decision.events.map { $0.newEvent(actor: actor, correlationID: correlationID) },
                claims: decision.rejection == nil ? claims(state) : [])
            let outcome = try await log.append([request])[0]
            switch outcome {
            case .success(let result):
                if let rejection = decision.rejection { throw rejection }
                var next = state
                for event in decision.events { next = next.evolve(event, at: result.recordedAt) }
                return next
            case .failure(.conflict):
                continue
            case .failure(.uniqueViolation(let scope)):
                throw scope == EmailAddress.claimScope ? Rejection.emailTaken : Rejection.stripeCustomerTaken
            case .failure(let error):
                throw error
            }
        }
        throw Rejection.busy
    }
}
