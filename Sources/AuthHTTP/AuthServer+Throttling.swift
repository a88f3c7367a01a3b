import AuthDomain
import AuthService
import Hummingbird

/// One account as seen from one client: the key of login-failure throttling. The account is
/// the digest of its email's lookup key, so the limiter holds no address in clear; the client
/// is an IPv4 address or an IPv6 /64 (``AddressRange/clientKey(of:)``), or an IPv6 client's
/// site, its /48 (``AddressRange/siteKey(ofClient:)``).
struct AccountAddress: Hashable, Sendable {
    var account: TokenHash
    var client: String
}

extension Problem {
    /// 429 with the seconds to wait in Retry-After (at least 1).
    static func rateLimited(retryAfter seconds: Double) -> Problem {
        var problem = Problem(
            .tooManyRequests, "rate_limited", "too many requests from this address, or for this account; retry later")
        problem.headers[.retryAfter] = String(max(1, Int(seconds.rounded(.up))))
        return problem
    }
}

extension AuthServer {
    /// Login failures are counted over this window (15 minutes): the per-address and
    /// per-account limits are "so many failures per window", refilling evenly.
    static let loginFailureWindow = 15.0 * 60
    /// An IPv6 site (a /48) may fail this many times the per-address limit on one account.
    static let siteFailuresPerAddressLimit = 5

    /// Takes one token from `key`'s bucket, or throws 429 `rate_limited` with Retry-After.
    func throttle<Key>(_ limiter: RateLimiter<Key>, _ key: Key) throws {
        if let wait = limiter.take(key) { throw Problem.rateLimited(retryAfter: wait) }
    }

    /// What the per-account limits are keyed by: the digest of the address's lookup key (as its
    /// email claim is), or of the text as given when it is no address, so an unknown address
    /// is limited exactly like a known one.
    static func accountKey(_ email: String) -> TokenHash {
        (try? EmailAddress(email))?.claimHash ?? TokenHash(of: Array(email.utf8))
    }

    /// The per-address limit of a route group (`login`, `refresh`, `reset`, `register`, ...).
    func limit(_ route: String, _ context: AuthRequestContext) throws {
        try throttle(limiter, route + " " + client(context))
    }

    /// Registration and password-reset requests: each costs a password hash or a mail, so a
    /// client address gets ``Configuration/registrationRateLimitPerMinute`` of each.
    func limitRegistration(_ route: String, _ context: AuthRequestContext) throws {
        try throttle(registrations, route + " " + client(context))
    }

    /// Signs in, throttled instead of locking the account.
    ///
    /// Rules:
    /// - Each attempt takes a token from its (account, client address) bucket and from the
    ///   account's bucket; an attempt that does not fail on the password (a success, or the
    ///   server being busy) gives both back, so only wrong passwords count.
    /// - One address may fail ``Configuration/loginFailuresPerAddress`` times per window on
    ///   one account; all addresses together ``Configuration/loginFailuresPerAccount`` times,
    ///   far more, so that one guessing address slows only itself and never the account's
    ///   owner elsewhere. Only many addresses at once can slow the owner, and never lock them out.
    /// - An IPv6 client (a /64) also takes from its site's bucket, its /48's, which allows
    ///   ``siteFailuresPerAddressLimit`` times the per-address limit: one site's many /64s
    ///   (256 of a /56, 65,536 of a /48) could otherwise use up the account's limit alone,
    ///   while a neighbour in the same /48 can use up only the site's bucket, not the owner's /64's.
    /// - A client the account's password was given right from in the last 30 days
    ///   (``SignedInClients``) takes nothing from its site's bucket or the account's and is not
    ///   refused when they are empty: neither many addresses guessing together nor a neighbour
    ///   can slow the owner where the owner has signed in before. Its own bucket still counts
    ///   its wrong passwords.
    /// - A throttled attempt gets 429 with Retry-After before any password is hashed, and
    ///   records nothing; a counted failure still records `LoginFailed` for the audit trail.
    /// - Unknown emails are throttled exactly like known ones, so the answer tells nothing.
    func throttledLogin(email: String, password: String, context: AuthRequestContext) async throws
        -> AuthService.SessionGrant
    {
        return try await throttlingWrongPasswords(account: Self.accountKey(email), context: context) {
            try await service.login(email: email, password: password, correlationID: context.requestID)
        }
    }

    /// Runs `check`, a password check on `account` (the digest of its email's lookup key), under
    /// the rules of ``throttledLogin(email:password:context:)``: the same buckets, so wrong
    /// passwords at login and anywhere else a password is checked count together.
    func throttlingWrongPasswords<Result>(
        account: TokenHash, context: AuthRequestContext, _ check: () async throws -> Result
    ) async throws -> Result {
        let address = client(context)
        let site = AddressRange.siteKey(ofClient: address)
        let fromHere = AccountAddress(account: account, client: address)
        // The tokens taken, given back when the attempt turns out not to count.
        var refunds: [() -> Void] = []
        func refund() { for give in refunds { give() } }
        func take<Key>(_ limiter: RateLimiter<Key>, _ key: Key) throws {
            do { try throttle(limiter, key) } catch {
                refund()
                throw error
            }
            refunds.append { limiter.refund(key) }
        }
        try take(loginFailures, fromHere)
        if !signedInClients.contains(fromHere) {
            if site != address { try take(siteFailures, AccountAddress(account: account, client: site)) }
            try take(accountFailures, account)
        }
        do {
            let result = try await check()
            refund()
            signedInClients.record(fromHere, site: site)
            return result
        } catch Rejection.invalidCredentials {
            throw Rejection.invalidCredentials
        } catch {
            refund()
            throw error
        }
    }
}
