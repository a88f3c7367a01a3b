import COpenSSL

/// scrypt through OpenSSL's `EVP_PBE_scrypt`, by default N = 2^17, r = 8, p = 1 (128 MiB).
/// Written as `$scrypt$ln=17,r=8,p=1$salt$hash`.
public struct ScryptHasher: PasswordHasher {
    public let logN: Int
    public let blockSize: Int
    public let parallelism: Int
    public var algorithm: String { "scrypt" }

    /// The most a stored hash may ask for: 256 MiB of memory, p <= 4.
    public static let maximumMemoryBytes = 256 << 20
    public static let maximumParallelism = 4

    public init(logN: Int = 17, blockSize: Int = 8, parallelism: Int = 1) {
        self.logN = logN
        self.blockSize = blockSize
        self.parallelism = parallelism
    }

    public func hash(_ password: String) throws(PasswordHashError) -> String {
        let salt = try SecureBytes.random(16)
        let key = try derive(password, salt: salt, logN: logN, r: blockSize, p: parallelism, length: 32)
        return PHCString(
            algorithm: algorithm, version: nil,
            parameters: [("ln", logN), ("r", blockSize), ("p", parallelism)], salt: salt, hash: key
        ).text
    }

    public func verify(_ password: String, against stored: PHCString) throws(PasswordHashError) -> Bool {
        guard stored.algorithm == algorithm, let ln = stored.parameter("ln"), let r = stored.parameter("r"),
            let p = stored.parameter("p"), (8...64).contains(stored.salt.count), (16...64).contains(stored.hash.count)
        else { throw .malformedHash }
        let key = try derive(password, salt: stored.salt, logN: ln, r: r, p: p, length: stored.hash.count)
        return CRYPTO_memcmp(key, stored.hash, key.count) == 0
    }

    public func isWeaker(_ stored: PHCString) -> Bool {
        (stored.parameter("ln") ?? 0) < logN || (stored.parameter("r") ?? 0) < blockSize
            || (stored.parameter("p") ?? 0) < parallelism
    }

    private func derive(
        _ password: String, salt: [UInt8], logN: Int, r: Int, p: Int, length: Int
    ) throws(PasswordHashError) -> [UInt8] {
        guard (1...30).contains(logN), (1...64).contains(r), (1...Self.maximumParallelism).contains(p),
            128 * r * ((1 << logN) + 2) <= Self.maximumMemoryBytes
        else {
            throw .parametersOverCap("scrypt ln=\(logN),r=\(r),p=\(p) (cap 256 MiB, p<=\(Self.maximumParallelism))")
        }
        // OpenSSL refuses unless maxmem covers V (128·r·(N+2)) and B (128·r·p).
        let maxmem = UInt64(128 * r * ((1 << logN) + 2) + 128 * r * p + (1 << 20))
        var key = [UInt8](repeating: 0, count: length)
        let bytes = Array(password.utf8)
        let ok = bytes.withUnsafeBufferPointer { pass in
            EVP_PBE_scrypt(
                pass.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, pass.count, salt,
                salt.count, UInt64(1) << UInt64(logN), UInt64(r), UInt64(p), maxmem, &key, key.count)
        }
        guard ok == 1 else { throw .failed("EVP_PBE_scrypt refused ln=\(logN),r=\(r),p=\(p)") }
        return key
    }
}
