import AuthDomain
import DataProtection
import EventLog
import Foundation

/// The reference ``UserStateSource``: reads the user's stream from any ``EventLog``, opens
/// each event with ``UserEventSealing`` and folds it. Every faster source (a projection) is
/// pinned to it by a test.
public struct FoldedUserStates: UserStateSource {
    public let log: any EventLog
    public let sealing: UserEventSealing

    public init(log: any EventLog, keys: any DataKeyStore) {
        self.log = log
        self.sealing = UserEventSealing(keys: keys)
    }

    public func state(of id: UUID) throws -> UserState {
        var state = UserState(id: id)
        for event in try log.readStream(id, from: 1) {
            state = state.evolve(try sealing.decode(event), at: event.recordedAt)
        }
        return state
    }

    public func owner(ofEmail address: EmailAddress) throws -> UUID? {
        try log.owner(of: address.claimKey, in: EmailAddress.claimScope)
    }
}
