/// One password-hashing algorithm with its parameters.
///
/// Rules: `hash` returns a PHC string with a fresh random salt; `verify` compares in constant
/// time and refuses (throws) parameters above the algorithm's cap before doing any work;
/// `isWeaker` says whether a stored hash is below this hasher's parameters (rehash on login).
/// Both are CPU- and memory-heavy: call them through ``HashingPool``, never on an event loop
/// or inside a write transaction.
public protocol PasswordHasher: Sendable {
    /// The PHC identifier, e.g. `argon2id`.
    var algorithm: String { get }
    func hash(_ password: String) throws(PasswordHashError) -> String
    func verify(_ password: String, against stored: PHCString) throws(PasswordHashError) -> Bool
    /// Whether `stored` (of this algorithm) uses lower parameters than this hasher.
    func isWeaker(_ stored: PHCString) -> Bool
}

/// The configured hasher for new hashes, and every supported algorithm for verification.
public struct PasswordHashing: Sendable {
    public let current: any PasswordHasher
    let verifiers: [String: any PasswordHasher]

    /// `current` hashes new passwords; hashes of the other supported algorithm still verify.
    public init(current: any PasswordHasher = Argon2idHasher()) {
        self.current = current
        var verifiers: [String: any PasswordHasher] = ["argon2id": Argon2idHasher(), "scrypt": ScryptHasher()]
        verifiers[current.algorithm] = current
        self.verifiers = verifiers
    }

    public func hash(_ password: String) throws(PasswordHashError) -> String {
        try current.hash(password)
    }

    /// Whether `password` matches `stored`, and whether `stored` should be replaced by a hash
    /// at the current setting.
    public func verify(_ password: String, against stored: String) throws(PasswordHashError) -> (
        matches: Bool, needsRehash: Bool
    ) {
        let phc = try PHCString(parsing: stored)
        guard let verifier = verifiers[phc.algorithm] else { throw .unsupportedAlgorithm(phc.algorithm) }
        let matches = try verifier.verify(password, against: phc)
        let needsRehash = phc.algorithm != current.algorithm || current.isWeaker(phc)
        return (matches, needsRehash)
    }
}
