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
        try Self.checkCaps(memoryKiB: memoryKiB, iterations: iterations, parallelism: parallelism)
        let salt = try SecureBytes.random(16)
        let length = argon2_encodedlen(
            UInt32(iterations), UInt32(memoryKiB), UInt32(parallelism), UInt32(salt.count), 32, Argon2_id)
        var encoded = [CChar](repeating: 0, count: length + 1)
        let password = Array(password.utf8)
        let status = argon2id_hash_encoded(
            UInt32(iterations), UInt32(memoryKiB), UInt32(parallelism), password, password.count, salt, salt.count, 32,
            &encoded, encoded.count)
        guard status == ARGON2_OK.rawValue else { throw .failed(String(cString: argon2_error_message(status))) }
        return String(cString: encoded)
    }

    public func verify(_ password: String, against stored: PHCString) throws(PasswordHashError) -> Bool {
        guard stored.algorithm == algorithm else { throw .unsupportedAlgorithm(stored.algorithm) }
        guard let m = stored.parameter("m"), let t = stored.parameter("t"), let p = stored.parameter("p"),
            stored.version == 19, (8...64).contains(stored.salt.count), (16...64).contains(stored.hash.count)
        else { throw .malformedHash }
        try Self.checkCaps(memoryKiB: m, iterations: t, parallelism: p)
        // Recompute with the stored parameters and salt, compare in constant time.
        var derived = [UInt8](repeating: 0, count: stored.hash.count)
        let password = Array(password.utf8)
        let status = argon2id_hash_raw(
            UInt32(t), UInt32(m), UInt32(p), password, password.count, stored.salt, stored.salt.count, &derived,
            derived.count)
        guard status == ARGON2_OK.rawValue else { throw .failed(String(cString: argon2_error_message(status))) }
        return CRYPTO_memcmp(derived, stored.hash, derived.count) == 0
    }

    public func isWeaker(_ stored: PHCString) -> Bool {
        (stored.parameter("m") ?? 0) < memoryKiB || (stored.parameter("t") ?? 0) < iterations
            || (stored.parameter("p") ?? 0) < parallelism
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
