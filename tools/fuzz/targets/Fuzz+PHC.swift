import PasswordHashing

/// PHC strings as stored password hashes are read (``PHCString/init(parsing:)``), and the
/// verification that follows when their parameters are small enough to run.
///
/// Properties: a parsed string written out parses to the same value, and writing that again
/// gives the same text; verifying a wrong password against a parsed hash never matches and
/// never traps (parameters over the cap are refused, not run).
enum FuzzPHC {
    static let hashing = PasswordHashing()

    static func run(_ input: UnsafeRawBufferPointer) {
        guard let text = String(validating: input, as: UTF8.self), let phc = try? PHCString(parsing: text) else {
            return
        }
        let written = phc.text
        guard let again = try? PHCString(parsing: written) else {
            fatalError("property violated: \(text) parses but its text \(written) does not")
        }
        require(again == phc, "\(text) reads back as \(written)")
        require(again.text == written, "\(written) is not stable")
        // Small enough to run in microseconds; larger ones are the cap's business.
        let small = phc.parameters.allSatisfy { $0.value <= 64 } && (phc.parameter("ln") ?? 0) <= 6
        guard small else { return }
        if let result = try? hashing.verify("not the password", against: text) {
            require(!result.matches, "a crafted hash matches any password: \(text)")
        }
    }
}
