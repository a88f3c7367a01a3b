import Foundation

extension UUID {
    /// A version 4 UUID (RFC 9562) from the system's random source (`getrandom`).
    ///
    /// Use it rather than `UUID()`, whose Linux implementation opens, reads and closes
    /// `/dev/urandom` for each one: three system calls where `getrandom` is one.
    public static func random() -> UUID {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }
}
