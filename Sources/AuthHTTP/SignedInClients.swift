import Dispatch
import Synchronization

/// The clients each account's password was given right from, lately: the pairs of
/// (account, client) that login throttling spares the account's own limit
/// (``AuthServer/throttlingWrongPasswords(account:context:_:)``).
///
/// Rules:
/// - A pair is remembered for ``lifetime`` seconds after the last right password from it, then
///   forgotten.
/// - Only a right password adds a pair, so filling the table costs a password hash a pair.
///   At most ``maximumPairs`` are held: a new pair beyond that first makes the expired ones
///   go and, unless that freed a quarter of the table, the older half of the rest, so that the
///   table is swept at most once in ``maximumPairs``/4 new pairs. A pair forgotten early only
///   means that client is counted against the account's limit again, as a client never seen is.
/// - The clock is injected (seconds, monotonic); by default the system's uptime.
final class SignedInClients: Sendable {
    let lifetime: Double
    let maximumPairs: Int
    private let clock: @Sendable () -> Double
    /// Each pair and when its password was last given right.
    private let pairs = Mutex<[AccountAddress: Double]>([:])

    /// Thirty days: a client the owner signs in from at least monthly stays known.
    static let defaultLifetime = 30.0 * 24 * 60 * 60

    init(
        lifetime: Double = defaultLifetime, maximumPairs: Int = 100_000,
        clock: @escaping @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    ) {
        precondition(lifetime > 0 && maximumPairs >= 4, "the table of signed-in clients needs positive limits")
        self.lifetime = lifetime
        self.maximumPairs = maximumPairs
        self.clock = clock
    }

    /// Notes a right password from `pair` now.
    func record(_ pair: AccountAddress) {
        let now = clock()
        pairs.withLock { pairs in
            if pairs[pair] == nil, pairs.count >= maximumPairs {
                pairs = pairs.filter { now - $0.value < lifetime }
                if pairs.count > maximumPairs * 3 / 4 {
                    let kept = pairs.sorted { $0.value > $1.value }.prefix(maximumPairs / 2)
                    pairs = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
                }
            }
            pairs[pair] = now
        }
    }

    /// Whether a right password came from `pair` within ``lifetime``.
    func contains(_ pair: AccountAddress) -> Bool {
        let now = clock()
        return pairs.withLock { pairs in pairs[pair].map { now - $0 < lifetime } ?? false }
    }

    /// Pairs held now, expired ones not yet dropped included.
    var count: Int { pairs.withLock { $0.count } }
}
