import Foundation

/// What a service credential may do (`authctl credentials add NAME --scopes ...`). Each scope
/// opens the work an ADMIN may do on any user in one area, and nothing else:
///
/// - `users:read`: read any user (erased users are not found), list and look users up
///   (``ReadRules/mayRead(scopes:)``, ``ReadRules/mayList(scopes:)``);
/// - `users:write`: change a user's profile, soft-delete and restore (``UpdateProfile``,
///   ``SoftDelete``, ``Restore``); never a role change or an erase, which stay ADMIN's;
/// - `stripe:link`: link and unlink a Stripe customer id (``LinkStripeCustomer``,
///   ``UnlinkStripeCustomer``);
/// - `events:read`: read the log as a feed, with personal fields only beside `users:read`
///   (``ReadRules/feedAccess(scopes:)``).
public enum CredentialScope: String, CaseIterable, Hashable, Sendable, Codable, Comparable {
    case usersRead = "users:read"
    case usersWrite = "users:write"
    case stripeLink = "stripe:link"
    case eventsRead = "events:read"

    public static func < (lhs: CredentialScope, rhs: CredentialScope) -> Bool { lhs.rawValue < rhs.rawValue }

    /// A comma-separated list of scopes (spaces around names ignored, repeats merged): at
    /// least one, each known.
    public static func parse(_ list: String) throws(CredentialScopeError) -> Set<CredentialScope> {
        guard !list.trimmingCharacters(in: .whitespaces).isEmpty else { throw .empty }
        var scopes = Set<CredentialScope>()
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let scope = CredentialScope(rawValue: name) else { throw .unknown(name) }
            scopes.insert(scope)
        }
        return scopes
    }
}

/// A scope list ``CredentialScope/parse(_:)`` refuses.
public enum CredentialScopeError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknown(String)
    case empty

    public var description: String {
        let known = CredentialScope.allCases.map(\.rawValue).joined(separator: ", ")
        switch self {
        case .unknown(let name): return "unknown scope \"\(name)\" (known: \(known))"
        case .empty: return "give at least one scope (known: \(known))"
        }
    }
}
