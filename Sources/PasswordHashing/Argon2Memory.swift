import CArgon2

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Argon2's working memory (19 MiB at the default setting), kept by a hashing thread from one
/// hash to the next, so that a login does not ask the allocator for the block and fault its
/// pages in again each time.
///
/// Rules:
/// - Only a thread that called ``keepBlocksOnThisThread()`` keeps a block (``HashingPool``'s
///   threads do); on any other thread libargon2's memory comes from `malloc` and goes back to
///   `free` at each hash.
/// - A thread keeps at most one block, of at most ``keptLimit`` bytes; asked for another size,
///   it frees the block it kept and allocates the new one. The block is freed when its thread
///   ends or calls ``freeKeptBlock()`` (a pool thread that has been idle a while).
/// - libargon2 wipes the block before it hands it back (its default, `FLAG_clear_internal_memory`),
///   so a kept block holds nothing derived from a password (`Argon2MemoryTests` checks it).
///   A hash with more than one lane that fails midway (libargon2 could not start a thread)
///   hands nothing back: that block leaks, unwiped, and is not kept.
enum Argon2Memory {
    /// The largest block a thread keeps: a stored hash that asks for more (up to
    /// ``Argon2idHasher/maximumMemoryKiB``) gets its block for that hash only.
    static let keptLimit = 64 << 20

    /// The block a keeping thread holds between hashes (`base` is nil while a hash uses it).
    private struct Slot {
        var base: UnsafeMutableRawPointer?
        var bytes = 0
    }

    private static let slotKey: pthread_key_t = {
        var key = pthread_key_t()
        // The destructor's parameter is optional on Linux and not on Darwin; either converts.
        let status = pthread_key_create(&key) { Argon2Memory.freeSlot($0) }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    /// At a keeping thread's end: frees its block and its slot.
    private static func freeSlot(_ slot: UnsafeMutableRawPointer?) {
        guard let slot = slot?.assumingMemoryBound(to: Slot.self) else { return }
        free(slot.pointee.base)
        slot.deinitialize(count: 1)
        slot.deallocate()
    }

    private static var currentSlot: UnsafeMutablePointer<Slot>? {
        pthread_getspecific(slotKey)?.assumingMemoryBound(to: Slot.self)
    }

    /// From now on, the calling thread keeps its Argon2 block between hashes.
    static func keepBlocksOnThisThread() {
        guard currentSlot == nil else { return }
        let slot = UnsafeMutablePointer<Slot>.allocate(capacity: 1)
        slot.initialize(to: Slot())
        pthread_setspecific(slotKey, slot)
    }

    /// Frees the block this thread keeps, if any (it goes on keeping the next one).
    static func freeKeptBlock() {
        guard let slot = currentSlot, let base = slot.pointee.base else { return }
        slot.pointee.base = nil
        free(base)
    }

    /// The block this thread keeps now and its size (for tests); nil when it keeps none.
    static var keptBlock: UnsafeRawBufferPointer? {
        guard let slot = currentSlot, let base = slot.pointee.base else { return nil }
        return UnsafeRawBufferPointer(start: base, count: slot.pointee.bytes)
    }

    /// libargon2's `allocate_cbk`: the kept block when it has the size asked for.
    static let allocate: allocate_fptr = { memory, bytes in
        guard let memory else { return ARGON2_MEMORY_ALLOCATION_ERROR.rawValue }
        if let slot = currentSlot, let base = slot.pointee.base {
            slot.pointee.base = nil
            if slot.pointee.bytes == bytes {
                memory.pointee = base.assumingMemoryBound(to: UInt8.self)
                return ARGON2_OK.rawValue
            }
            free(base)
        }
        memory.pointee = malloc(bytes)?.assumingMemoryBound(to: UInt8.self)
        return memory.pointee == nil ? ARGON2_MEMORY_ALLOCATION_ERROR.rawValue : ARGON2_OK.rawValue
    }

    /// libargon2's `free_cbk`, called with a block it has wiped: kept when this thread keeps
    /// blocks and it is small enough, freed otherwise.
    static let release: deallocate_fptr = { memory, bytes in
        if let slot = currentSlot, slot.pointee.base == nil, bytes <= keptLimit {
            slot.pointee.base = UnsafeMutableRawPointer(memory)
            slot.pointee.bytes = bytes
        } else {
            free(memory)
        }
    }
}
