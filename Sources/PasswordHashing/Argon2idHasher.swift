import CArgon2
import COpenSSL

/// Argon2id through libargon2, by default at OWASP's minimum: m = 19,456 KiB, t = 2, p = 1.
public struct Argon2idHasher: PasswordHasher {
    public let memoryKiB: Int
    public let iterations: Int
    public let parallelism: Int
    public var algorithm: String { "argon2id" }

    /// The most a stored hash may ask for: 256 MiB, 10 passes, 8 lanes.
    public static let maximumMemoryKiB = 262_144
    public static let maximumIterations = 10
    public static let maximumParallelism = 8

    public init(memoryKiB: Int = 19_456, iterations: Int = 2, parallelism: Int = 1) {
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
    }

    public func hash(_ password: String) throws(PasswordHashError) -> String {
        try hash(password, salt: try SecureBytes.random(16))
    }

    /// The PHC string of `password` with `salt`: what libargon2's `argon2id_hash_encoded`
    /// writes (`Argon2idTests` compares the two).
    func hash(_ password: String, salt: [UInt8]) throws(PasswordHashError) -> String {
        try Self.checkCaps(memoryKiB: memoryKiB, iterations: iterations, parallelism: parallelism)
        let tag = try Self.derive(
            Array(password.utf8), salt: salt, memoryKiB: memoryKiB, iterations: iterations,
            parallelism: parallelism, length: 32)
        return PHCString(
            algorithm: algorithm, version: Int(ARGON2_VERSION_13.rawValue),
            parameters: [("m", memoryKiB), ("t", iterations), ("p", parallelism)], salt: salt, hash: tag
        ).text
    }

    public func verify(_ password: String, against stored: PHCString) throws(PasswordHashError) -> Bool {
        guard stored.algorithm == algorithm else { throw .unsupportedAlgorithm(stored.algorithm) }
        guard let m = stored.parameter("m"), let t = stored.parameter("t"), let p = stored.parameter("p"),
            stored.version == 19, (8...64).contains(stored.salt.count), (16...64).contains(stored.hash.count)
        else { throw .malformedHash }
        try Self.checkCaps(memoryKiB: m, iterations: t, parallelism: p)
        // Recompute with the stored parameters and salt, compare in constant time.
        let derived = try Self.derive(
            Array(password.utf8), salt: stored.salt, memoryKiB: m, iterations: t, parallelism: p,
            length: stored.hash.count)
        return CRYPTO_memcmp(derived, stored.hash, derived.count) == 0
    }

    public func isWeaker(_ stored: PHCString) -> Bool {
        (stored.parameter("m") ?? 0) < memoryKiB || (stored.parameter("t") ?? 0) < iterations
            || (stored.parameter("p") ?? 0) < parallelism
    }

    /// Argon2id's tag of `password` and `salt` (libargon2's `argon2_ctx`, as `argon2id_hash_raw`
    /// calls it), its memory block from ``Argon2Memory``.
    static func derive(
        _ password: [UInt8], salt: [UInt8], memoryKiB: Int, iterations: Int, parallelism: Int, length: Int
    ) throws(PasswordHashError) -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: length)
        // libargon2 takes mutable pointers but writes the password and salt only when asked to
        // clear them (flags), which this call does not: no copy of either is made for it.
        let status = tag.withUnsafeMutableBufferPointer { tag in
            password.withUnsafeBufferPointer { password in
                salt.withUnsafeBufferPointer { salt in
                    var context = argon2_context(
                        out: tag.baseAddress, outlen: UInt32(tag.count),
                        pwd: password.baseAddress.map { UnsafeMutablePointer(mutating: $0) },
                        pwdlen: UInt32(password.count),
                        salt: salt.baseAddress.map { UnsafeMutablePointer(mutating: $0) },
                        saltlen: UInt32(salt.count), secret: nil, secretlen: 0, ad: nil, adlen: 0,
                        t_cost: UInt32(iterations), m_cost: UInt32(memoryKiB), lanes: UInt32(parallelism),
                        threads: UInt32(parallelism), version: UInt32(ARGON2_VERSION_13.rawValue),
                        allocate_cbk: Argon2Memory.allocate, free_cbk: Argon2Memory.release,
                        flags: 0)  // ARGON2_DEFAULT_FLAGS
                    return argon2_ctx(&context, Argon2_id)
                }
            }
        }
        guard status == ARGON2_OK.rawValue else { throw .failed(String(cString: argon2_error_message(status))) }
        return tag
    }

    static func checkCaps(memoryKiB: Int, iterations: Int, parallelism: Int) throws(PasswordHashError) {
        guard (8...maximumMemoryKiB).contains(memoryKiB), (1...maximumIterations).contains(iterations),
            (1...maximumParallelism).contains(parallelism), memoryKiB >= 8 * parallelism
        else {
            throw .parametersOverCap(
                "argon2id m=\(memoryKiB),t=\(iterations),p=\(parallelism) (caps m<=\(maximumMemoryKiB),t<=\(maximumIterations),p<=\(maximumParallelism))"
            )
        }
    }
}
