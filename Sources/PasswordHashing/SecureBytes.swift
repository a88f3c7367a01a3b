import COpenSSL
import Synchronization

/// Random bytes from OpenSSL's CSPRNG (`RAND_bytes`), for token secrets, salts and keys.
///
/// Rules:
/// - A request of up to ``reserveLimit`` bytes is served from a reserve of
///   ``reserveCapacity`` bytes filled by one `RAND_bytes`, since a call of the generator
///   costs about as much whether it makes 32 bytes or 1 KiB; larger requests call it directly.
/// - Bytes handed out are wiped from the reserve before the call returns: no byte is handed
///   out twice, and the reserve holds only bytes no caller has seen.
/// - The reserve is as secret as the generator's own state, which lives in the same memory.
///   It is not renewed across `fork()` as OpenSSL's state is; nothing here forks without
///   `exec`.
/// - A generator that fails is an error (``PasswordHashError/failed(_:)``), never fewer or
///   zero bytes.
public enum SecureBytes {
    /// The largest request served from the reserve.
    public static let reserveLimit = 64
    /// How many bytes one fill of the reserve draws.
    public static let reserveCapacity = 4096

    public static func random(_ count: Int) throws(PasswordHashError) -> [UInt8] {
        precondition(count >= 0, "a negative count of random bytes")
        if count == 0 { return [] }
        if count <= reserveLimit, let bytes = reserve.withLock({ $0.take(count) }) { return bytes }
        var bytes = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&bytes, Int32(count)) == 1 else { throw .failed("RAND_bytes failed") }
        return bytes
    }

    private static let reserve = Mutex(Reserve(capacity: reserveCapacity))
}

/// Bytes drawn ahead from `RAND_bytes`; `start` is the first not yet handed out.
struct Reserve: ~Copyable {
    let storage: UnsafeMutableRawBufferPointer
    var start: Int

    init(capacity: Int) {
        storage = .allocate(byteCount: capacity, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        start = capacity
    }

    /// `count` bytes, wiped from the reserve; nil when the generator fails to fill it.
    mutating func take(_ count: Int) -> [UInt8]? {
        if storage.count - start < count {
            guard RAND_bytes(storage.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(storage.count)) == 1
            else { return nil }
            start = 0
        }
        let taken = UnsafeMutableRawBufferPointer(rebasing: storage[start..<start + count])
        let bytes = [UInt8](taken)
        OPENSSL_cleanse(taken.baseAddress, count)
        start += count
        return bytes
    }

    deinit {
        OPENSSL_cleanse(storage.baseAddress, storage.count)
        storage.deallocate()
    }
}
