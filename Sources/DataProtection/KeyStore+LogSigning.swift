import COpenSSL
import Foundation
import Signatures

extension KeyEncryptionKey {
    /// The Ed25519 private key (32 bytes) that signs the log's checkpoints in a format 1 store,
    /// derived from this key: HMAC-SHA256(KEK, "authlog log signing key v1").
    package var derivedLogSigningSeed: [UInt8] { hmacSHA256(key: bytes, Array("authlog log signing key v1".utf8)) }

    /// The key derived from this one (``derivedLogSigningSeed``).
    ///
    /// Whoever holds the KEK can sign; its public half (``KeyStore/logSigningKey``) can be
    /// published for auditors, who verify with it and no secret. Another KEK gives another key.
    var logSigningKey: Ed25519Key {
        var seed = derivedLogSigningSeed
        defer { seed.withUnsafeMutableBytes { cleanse($0) } }
        // 32 bytes always make an Ed25519 key.
        return try! Ed25519Key(privateKey: seed)
    }
}

extension KeyStore {
    /// The associated data of the slot that holds the log's signing key (format 2).
    package static let logSigningContext = Array("authlog log signing key".utf8)

    /// The log's signing key: the one the store holds (format 2, after a rotation of the
    /// key-encryption key), else the one derived from the key-encryption key (format 1).
    /// `nil` for a store that holds no key (``locked()``, or a read-only open of a directory
    /// without a store).
    ///
    /// Rule: rotating the key-encryption key never changes this key, so signed heads kept
    /// elsewhere, exports and the public key auditors hold keep verifying.
    public var logSigningKey: Ed25519Key? {
        guard keySource != "none" else { return nil }
        if let seed = storedLogSigningSeed { return try? Ed25519Key(privateKey: seed) }
        return kek.logSigningKey
    }

    /// The slot holding the log's signing key, wrapped, as stored (format 2), or `nil` when the
    /// key is derived (format 1): an export carries it so that an import keeps the log's key.
    public var storedLogSigningSlot: [UInt8]? {
        guard storedLogSigningSeed != nil, let slot = try? readSlot(0) else { return nil }
        return slot
    }

    /// Stores the log's signing key from `slot` (as ``storedLogSigningSlot`` gave it, wrapped
    /// with this store's key-encryption key), making this store format 2. Only into a store
    /// without any slot yet (an import's new store); the slot must unwrap.
    public func adoptLogSigningSlot(_ slot: [UInt8]) throws {
        guard slot.count == Self.slotSize, Array(slot[0..<16]) == uuidBytes(Self.logSigningSlot) else {
            throw DataProtectionError.keyStore("the log signing key's slot is malformed")
        }
        var seed = try slot.withUnsafeBytes {
            try AESGCM.open(
                UnsafeRawBufferPointer(rebasing: $0[16..<76]), key: kek.bytes, associatedData: Self.logSigningContext)
        }
        defer { seed.withUnsafeMutableBytes { cleanse($0) } }
        guard seed.count == 32 else { throw DataProtectionError.keyStore("the log signing key is not 32 bytes") }
        try withFileLock {
            guard storedKeyCount == 0 else {
                throw DataProtectionError.keyStore("\(path) holds keys already; the log's key goes into a new store")
            }
            try appendSlots(slot)
            try writeAndSync([0, 0, 0, 2], at: 16)
        }
        storedLogSigningSeed = seed
    }

    /// Called on open: in format 2, the log's signing key from the first slot; in format 1,
    /// `nil`; any other version is refused (written by a newer release).
    func readStoredLogSigningSeed(version: ArraySlice<UInt8>) throws -> [UInt8]? {
        switch Array(version) {
        case [0, 0, 0, 1]: return nil
        case [0, 0, 0, 2]:
            let slot = try readSlot(0)
            guard Array(slot[0..<16]) == uuidBytes(Self.logSigningSlot) else {
                throw DataProtectionError.keyStore("\(path) is format 2 but its first slot is not the log's key")
            }
            let seed = try slot.withUnsafeBytes {
                try AESGCM.open(
                    UnsafeRawBufferPointer(rebasing: $0[16..<76]), key: kek.bytes,
                    associatedData: Self.logSigningContext)
            }
            guard seed.count == 32 else { throw DataProtectionError.tampered }
            return seed
        default:
            throw DataProtectionError.keyStore(
                "\(path) is key store format \(version.reduce(0) { $0 << 8 | Int($1) }), written by a newer release")
        }
    }
}
