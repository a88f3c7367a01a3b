import AuthDomain
import DataProtection
import EventLog
import EventSealing
import Foundation

extension AuthService {
    /// The user as the fold of their stream (an empty state when there is none), from
    /// ``states`` (the projection's row when it is current, the fold otherwise: the same
    /// answer either way).
    ///
    /// Personal fields are opened with the user's data key; once the key is destroyed they
    /// come back empty. A read has no side effect: an erase interrupted between its event and
    /// the key's destruction is finished by erasing again (``erase(_:actor:correlationID:)``).
    public func load(_ id: UUID) throws -> UserState {
        try states.state(of: id)
    }

    /// Decides `command` against the user's current state and appends what it decided,
    /// expecting the version it decided from; on a conflict it reads again and decides again.
    /// Returns the new state, or throws the command's ``Rejection`` (after appending any
    /// events the rejection records, like `LoginFailed`).
    ///
    /// The first decision is taken from ``UserStateSource/recentState(of:)``. When that state
    /// may be older than the log's, only a successful append (its version check) lets the
    /// decision stand: anything else that happens before the append has written it (a refusal
    /// to build the command, a decision with no events, a failure to seal its events, the
    /// append refusing the request for any reason) is decided again from the current state.
    /// That attempt does not count against ``Configuration/maximumAttempts``.
    @discardableResult
    func execute(
        on id: UUID, actor: Actor, correlationID: String, claims: @escaping (UserState) -> [UniqueClaim] = { _ in [] },
        command: (UserState) throws -> any UserCommand
    ) async throws -> UserState {
        var recent: (state: UserState, current: Bool)? = try states.recentState(of: id)
        var attempts = 0
        while attempts < configuration.maximumAttempts {
            let (state, current) = try recent ?? (load(id), true)
            recent = nil
            if current { attempts += 1 }
            do {
                let decided: any UserCommand
                do {
                    decided = try command(state)
                } catch  where !current {
                    continue
                }
                return try await executeOnce(
                    on: id, from: state, current: current, actor: actor, correlationID: correlationID,
                    claims: claims(state), decided)
            } catch EventLogError.conflict {
                continue
            } catch is DecidedFromOlderState {
                continue
            } catch EventLogError.uniqueViolation(let scope) {
                recordUnchangedLog()
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
    ///
    /// A state that may be older than the log's (`current: false`) lets only an append decide:
    /// a decision with no events, a failure to seal them, and the append's refusal of the
    /// request throw ``DecidedFromOlderState`` instead of answering (nothing was written). A
    /// failure of the append itself (the log unreachable, its outcome unknown) is thrown as it is.
    func executeOnce(
        on id: UUID, from state: UserState, current: Bool = true, actor: Actor, correlationID: String,
        claims: [UniqueClaim] = [], _ command: any UserCommand
    ) async throws -> UserState {
        let decision = command.decide(state, now: clock())
        if decision.events.isEmpty {
            guard current else { throw DecidedFromOlderState() }
            recordUnchangedLog()
            if let rejection = decision.rejection { throw rejection }
            return state
        }
        let events: [NewEvent]
        do {
            events = try sealing.newEvents(
                decision.events, for: id, after: state.version, actor: actor, correlationID: correlationID)
        } catch  where !current {
            throw DecidedFromOlderState()
        }
        let request = AppendRequest(
            stream: id, expected: state.exists ? .exactly(state.version) : .noStream, events: events,
            claims: decision.rejection == nil ? claims : [])
        let outcome = try await log.append([request])[0]
        if !current, case .failure = outcome { throw DecidedFromOlderState() }
        let result = try outcome.get()
        PositionReceipt.current?.record(result.lastPosition)
        let (after, noticesDue) = state.evolve(decision.events, at: result.recordedAt)
        await sendNotices(for: noticesDue, to: after)
        if let rejection = decision.rejection { throw rejection }
        return after
    }
}

extension AuthService {
    /// Records in the current ``PositionReceipt`` that an answer rests on the log as it is now,
    /// having appended nothing: its head, read after the decision. A head that cannot be read
    /// records nothing (the answer itself stands).
    func recordUnchangedLog() {
        guard let receipt = PositionReceipt.current, let head = try? log.headPosition() else { return }
        receipt.record(head)
    }
}

/// A decision with nothing to append, taken from a state that may be older than the log's:
/// not an answer (see ``AuthService/execute(on:actor:correlationID:claims:command:)``).
struct DecidedFromOlderState: Error {}
