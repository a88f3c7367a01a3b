import AuthDomain
import Foundation

extension UserQueries {
    /// By email, compared as the lookup key (trimmed, NFC, lower-cased).
    ///
    /// The owner and the user come from one snapshot: the claim index is read in its own
    /// transaction, begun inside the query's, and the answer is kept only if no commit came
    /// between the two (a third transaction's snapshot id equals the query's); otherwise the
    /// query starts over, and after three tries answers from the latest claim.
    public func user(email: String) throws -> UserState? {
        var claim: TokenHash?  // hashed only when the memo cannot answer
        for attempt in 1...3 {
            var decided = true  // a plain flag, not a double optional: the state is copied less
            let user = try log.environment.read { txn -> UserState? in
                guard let g = try projection.liveGeneration(in: txn) else { return nil }
                let snapshot = txn.snapshotID
                let owners = projection.decoded.emailOwners
                if let id = owners.owner(of: email, atSnapshot: snapshot) {
                    return try projection.readUser(id, generation: g, in: txn)
                }
                if claim == nil { claim = (try? EmailAddress(email))?.claimHash }
                guard let claim else { return nil }
                let owner = try log.owner(of: claim.bytes, in: EmailAddress.claimScope)
                let unchanged = try log.environment.read { $0.snapshotID } == snapshot
                guard unchanged || attempt == 3 else {
                    decided = false  // a commit came between: try again
                    return nil
                }
                guard let owner else { return nil }
                if unchanged { owners.remember(owner, owns: email, atSnapshot: snapshot) }
                return try projection.readUser(owner, generation: g, in: txn)
            }
            if decided { return user }
        }
        return nil
    }
}
