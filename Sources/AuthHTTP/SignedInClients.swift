import Dispatch
import Synchronization

/// The clients each account's password was given right from, lately: the pairs of
/// (account, client) that login throttling spares the site's and the account's limits
/// (``AuthServer/throttlingWrongPasswords(account:context:_:)``).
///
/// Rules:
/// - A pair is remembered for ``lifetime`` seconds after the last right password from it, then
///   forgotten.
/// - Only a right password adds a pair. One site (an IPv4 address, or an IPv6 /48) holds at
///   most ``maximumPairsPerSite``: a new one beyond that replaces the site's pair signed in
///   least lately. So whoever signs in to many accounts of their own (registering is open)
///   replaces only their own site's pairs, never an owner's elsewhere.
/// - At most ``maximumPairs`` are held in all: a new pair beyond that first makes the expired
///   ones go and, unless that freed a quarter of the table, the older half of the rest (swept
///   at most once in ``maximumPairs``/4 new pairs). Filling the table so takes a right password
///   from each of ``maximumPairs``/``maximumPairsPerSite`` sites. A pair forgotten early only
///   means that client is counted against the limits again, as a client never seen is.
/// - The clock is injected (seconds, monotonic); by default the system's uptime.
final class SignedInClients: Sendable {
    let lifetime: Double
    let maximumPairs: Int
    let maximumPairsPerSite: Int
    private let clock: @Sendable () -> Double
    private struct Table {
        /// Each pair: when its password was last given right, and its site.
        var pairs: [AccountAddress: (time: Double, site: String)] = [:]
        /// Each site's pairs, signed in least lately first.
        var bySite: [String: [AccountAddress]] = [:]
    }
    private let table = Mutex(Table())

    /// Thirty days: a client the owner signs in from at least monthly stays known.
    static let defaultLifetime = 30.0 * 24 * 60 * 60

    init(
        lifetime: Double = defaultLifetime, maximumPairs: Int = 100_000, maximumPairsPerSite: Int = 16,
        clock: @escaping @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    ) {
        precondition(
            lifetime > 0 && maximumPairs >= 4 && maximumPairsPerSite > 0,
            "the table of signed-in clients needs positive limits")
        self.lifetime = lifetime
        self.maximumPairs = maximumPairs
        self.maximumPairsPerSite = maximumPairsPerSite
        self.clock = clock
    }

    /// Notes a right password from `pair` (its client in `site`) now.
    func record(_ pair: AccountAddress, site: String) {
        let now = clock()
        table.withLock { table in
            if table.pairs[pair] != nil {
                table.bySite[site]?.removeAll { $0 == pair }
            } else {
                if let siteFull = table.bySite[site], siteFull.count >= maximumPairsPerSite {
                    table.pairs[siteFull[0]] = nil
                    table.bySite[site]?.removeFirst()
                }
                if table.pairs.count >= maximumPairs { sweep(&table, now: now) }
            }
            table.pairs[pair] = (now, site)
            table.bySite[site, default: []].append(pair)
        }
    }

    /// Drops the expired pairs and, unless that freed a quarter of the table, the older half.
    private func sweep(_ table: inout Table, now: Double) {
        var live = table.pairs.filter { now - $0.value.time < lifetime }
        if live.count > maximumPairs * 3 / 4 {
            let kept = live.sorted { $0.value.time > $1.value.time }.prefix(maximumPairs / 2)
            live = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
        }
        table.pairs = live
        table.bySite = [:]
        for (pair, value) in live.sorted(by: { $0.value.time < $1.value.time }) {
            table.bySite[value.site, default: []].append(pair)
        }
    }

    /// Whether a right password came from `pair` within ``lifetime``.
    func contains(_ pair: AccountAddress) -> Bool {
        let now = clock()
        return table.withLock { table in table.pairs[pair].map { now - $0.time < lifetime } ?? false }
    }

    /// Pairs held now, expired ones not yet dropped included.
    var count: Int { table.withLock { $0.pairs.count } }
}
