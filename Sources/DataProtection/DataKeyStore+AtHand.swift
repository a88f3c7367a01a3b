/// Look-ups that must not wait for a key store's server.
///
/// Rules:
/// - Inside ``withKeysAtHandOnly(_:)`` a store that holds a key in memory (or in a local file)
///   returns it as usual; a store that would have to ask a server for it throws
///   ``DataProtectionError/keyNotAtHand`` instead of waiting.
/// - The caller treats that error as "not here": it does the same work where waiting is
///   allowed. An event loop answering a read is the caller this is for.
/// - The mark holds for the synchronous code `body` runs on the calling thread (and for tasks
///   it would start, which inherit it); it never leaks past the call.
public enum DataKeyLookup {
    @TaskLocal static var keysAtHandOnly = false

    /// Runs `body` with look-ups limited to keys at hand (see the type's rules).
    public static func withKeysAtHandOnly<Result>(_ body: () throws -> Result) rethrows -> Result {
        try $keysAtHandOnly.withValue(true, operation: body)
    }

    /// Whether a store may wait for its server here; `false` inside ``withKeysAtHandOnly(_:)``.
    public static var mayWait: Bool { !keysAtHandOnly }
}
