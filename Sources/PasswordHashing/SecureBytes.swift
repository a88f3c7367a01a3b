import COpenSSL
import Glibc
import Synchronization

/// Random bytes from OpenSSL's CSPRNG (`RAND_bytes`), for token secrets, salts and the ids of
/// access tokens.
///
/// Rules:
/// - A request of up to ``reserveLimit`` bytes is served from a reserve of
///   ``reserveCapacity`` bytes filled by one `RAND_bytes`, since a call of the generator
///   costs about as much whether it makes 32 bytes or 1 KiB; larger requests call it directly.
/// - Bytes handed out are wiped from the reserve before the call returns: no byte is handed
///   out twice, and the reserve holds only bytes no caller has seen.
/// - A fill that fails wipes the reserve and leaves it empty: nothing the generator left
///   half-written is handed out, and the request fails.
/// - After `fork()` the child never hands out what the parent's reserve held: it empties the
///   reserve and fills it again, as OpenSSL reseeds its own generator in a child.
/// - The reserve sits on a page of its own, left out of core dumps (`MADV_DONTDUMP`). What it
///   holds are the next secrets themselves; a memory image of the process (a VM snapshot
///   restored twice) repeats them, as it repeats the generator's own state.
/// - A generator that fails is an error (``PasswordHashError/failed(_:)``), never fewer or
///   zero bytes.
public enum SecureBytes {
    /// The largest request served from the reserve.
    public static let reserveLimit = 64
    /// How many bytes one fill of the reserve draws (one page).
    public static let reserveCapacity = 4096

    public static func random(_ count: Int) throws(PasswordHashError) -> [UInt8] {
        precondition(count >= 0, "a negative count of random bytes")
        if count == 0 { return [] }
        if count <= reserveLimit, let bytes = reserve.withLock({ $0.take(count) }) { return bytes }
        var bytes = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&bytes, Int32(count)) == 1 else { throw .failed("RAND_bytes failed") }
        return bytes
    }

    private static let reserve: Mutex<Reserve> = {
        _ = forkWatch
        return Mutex(Reserve(capacity: reserveCapacity))
    }()

    /// How many times this process is a child of a `fork()` since the reserve was made.
    static let forks = Atomic<Int>(0)

    /// Counts forks in the child, before it runs anything else.
    private static let forkWatch: Void = {
        pthread_atfork(nil, nil) { SecureBytes.forks.add(1, ordering: .relaxed) }
    }()
}

/// Bytes drawn ahead from the generator; `start` is the first not yet handed out.
struct Reserve: ~Copyable {
    let storage: UnsafeMutableRawBufferPointer
    var start: Int
    /// ``SecureBytes/forks`` when the reserve was last filled.
    var filledAtFork: Int
    /// Fills the whole buffer from the generator; false when it failed.
    let fill: (UnsafeMutableRawBufferPointer) -> Bool

    init(
        capacity: Int,
        fill: @escaping (UnsafeMutableRawBufferPointer) -> Bool = {
            RAND_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32($0.count)) == 1
        }
    ) {
        // Pages of its own, so that leaving them out of core dumps leaves out nothing else.
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = UnsafeMutableRawBufferPointer.allocate(
            byteCount: (capacity + page - 1) / page * page, alignment: page)
        _ = madvise(pages.baseAddress, pages.count, MADV_DONTDUMP)
        pages.initializeMemory(as: UInt8.self, repeating: 0)
        storage = UnsafeMutableRawBufferPointer(rebasing: pages[0..<capacity])
        start = storage.count
        filledAtFork = SecureBytes.forks.load(ordering: .relaxed)
        self.fill = fill
    }

    /// `count` bytes, wiped from the reserve; nil when the generator fails to fill it.
    mutating func take(_ count: Int) -> [UInt8]? {
        let forks = SecureBytes.forks.load(ordering: .relaxed)
        if storage.count - start < count || forks != filledAtFork {
            guard fill(storage) else {
                OPENSSL_cleanse(storage.baseAddress, storage.count)
                start = storage.count
                return nil
            }
            start = 0
            filledAtFork = forks
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
