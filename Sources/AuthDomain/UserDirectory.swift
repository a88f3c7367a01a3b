import EventLog
import Foundation

/// Finding users for the admin console: the port a read model serves beside ``UserReads``.
///
/// Rules every implementation keeps:
/// - A search answers from the read model as of one position; it never answers from a
///   position older than the one it answered from before.
/// - The text is matched, in this order: a user id (exactly); a Stripe customer id
///   (`cus_...`, by prefix); a phone number (starting with `+` or a digit, by prefix); else an
///   email address by prefix of its lookup key (lower-cased). Empty text matches everyone.
/// - An erased user's personal fields are nowhere in it: they cannot be found by email,
///   phone or Stripe id (their key is gone), only by id.
/// - ``DirectoryPage/total`` counts every match; ``DirectoryPage/ids`` is the page asked for,
///   in the order asked for (ties by id).
public protocol UserDirectory: Sendable {
    func search(_ query: DirectoryQuery) throws -> DirectoryPage
    /// Users holding each role now, soft-deleted ones included.
    func roleCounts() throws -> [Role: Int]
}

/// What the console asks a ``UserDirectory`` for.
public struct DirectoryQuery: Hashable, Sendable {
    public enum Order: String, Hashable, Sendable, CaseIterable {
        /// Newest registration first.
        case created
        /// Most recent login first; never signed in last.
        case lastLogin = "last_login"
    }

    public var text = ""
    public var role: Role?
    /// `true`: only verified addresses; `false`: only unverified; `nil`: either.
    public var verified: Bool?
    public var deleted: Bool?
    public var erased: Bool?
    public var order = Order.created
    public var offset = 0
    public var limit = 50

    /// The deepest result a search pages to (offset + limit): deeper needs a narrower search.
    public static let deepestResult = 100_000

    public init() {}
}

/// One page of a search: the ids of the users on it and how many matched in all.
public struct DirectoryPage: Hashable, Sendable {
    public var ids: [UUID]
    public var total: Int
    /// The log position the answer was read at.
    public var position: UInt64

    public init(ids: [UUID], total: Int, position: UInt64) {
        self.ids = ids
        self.total = total
        self.position = position
    }
}
