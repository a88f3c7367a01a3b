import Foundation
import Signatures

/// Where each user's data key lives, wrapped by the key-encryption key: the port every reader
/// and writer of personal fields is given. ``KeyStore`` keeps the keys in a file of the data
/// directory (the embedded default); a store in the shared database serves a cluster.
///
/// Rules every store keeps:
/// - One user, at most one key. Creating a key for a user who has one is refused.
/// - ``dataKey(for:)`` returns `nil` once the key is destroyed, by this process at once, and
///   by any other process at the latest once it was told (``forget(_:)``) or its store noticed.
/// - ``destroyDataKey(for:)`` removes every stored copy the store controls before it returns.
/// - Keys are unwrapped only in memory; nothing unwrapped is written anywhere.
public protocol DataKeyStore: AnyObject, Sendable {
    /// The user's data key, or `nil` if there is none (never created, or destroyed).
    func dataKey(for user: UUID) throws -> [UInt8]?
    /// Creates, stores durably and returns a new key for `user`.
    func createDataKey(for user: UUID) throws -> [UInt8]
    /// Creates keys for many users in one durable write (seeding, bulk loads).
    func createDataKeys(for users: [UUID]) throws -> [[UInt8]]
    /// Destroys the user's key; returns whether there was one.
    @discardableResult func destroyDataKey(for user: UUID) throws -> Bool
    /// Drops what this process caches for `user` (another process destroyed the key).
    func forget(_ user: UUID)
    /// Every user with a key.
    func users() throws -> [UUID]
    /// Calls `body` with every stored key whose user `wanted` accepts, unwrapped, adding
    /// nothing to the cache (a rebuild's bulk read); the bytes are valid only during the call.
    func forEachDataKey(where wanted: (UUID) -> Bool, _ body: (UUID, UnsafeRawBufferPointer) throws -> Void) throws
    /// An upper bound on the number of keys stored (for sizing a rebuild's partitions).
    var storedKeyCount: Int { get }
    /// The key that signs the log's checkpoints, or `nil` for a store that holds no key.
    var logSigningKey: Ed25519Key? { get }
}

extension KeyStore: DataKeyStore {}
