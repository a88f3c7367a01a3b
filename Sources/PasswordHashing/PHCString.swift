import Foundation

/// A password hash in the PHC string format: `$id[$v=version]$param=value,...$salt$hash`,
/// salt and hash in base64 without padding.
public struct PHCString: Hashable, Sendable {
    public var algorithm: String
    public var version: Int?
    /// Parameters in their written order.
    public var parameters: [(name: String, value: Int)]
    public var salt: [UInt8]
    public var hash: [UInt8]

    public static func == (lhs: PHCString, rhs: PHCString) -> Bool {
        lhs.algorithm == rhs.algorithm && lhs.version == rhs.version && lhs.salt == rhs.salt && lhs.hash == rhs.hash
            && lhs.parameters.map(\.name) == rhs.parameters.map(\.name)
            && lhs.parameters.map(\.value) == rhs.parameters.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(algorithm)
        hasher.combine(salt)
        hasher.combine(hash)
    }

    public init(
        algorithm: String, version: Int?, parameters: [(name: String, value: Int)], salt: [UInt8], hash: [UInt8]
    ) {
        self.algorithm = algorithm
        self.version = version
        self.parameters = parameters
        self.salt = salt
        self.hash = hash
    }

    /// Parses `text`; throws ``PasswordHashError/malformedHash`` for anything off-format.
    public init(parsing text: String) throws(PasswordHashError) {
        guard text.utf8.count <= 512 else { throw .malformedHash }
        var fields = text.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 5, fields.removeFirst().isEmpty else { throw .malformedHash }
        algorithm = fields.removeFirst()
        if fields.count == 4 {
            let versionField = fields.removeFirst()
            guard versionField.hasPrefix("v="), let value = Int(versionField.dropFirst(2)) else { throw .malformedHash }
            version = value
        } else {
            version = nil
        }
        guard fields.count == 3 else { throw .malformedHash }
        var parameters: [(name: String, value: Int)] = []
        for pair in fields[0].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = Int(parts[1]), value >= 0 else { throw .malformedHash }
            parameters.append((String(parts[0]), value))
        }
        self.parameters = parameters
        guard let salt = PHCBase64.decode(fields[1]), let hash = PHCBase64.decode(fields[2]), !salt.isEmpty,
            !hash.isEmpty
        else { throw .malformedHash }
        self.salt = salt
        self.hash = hash
    }

    public func parameter(_ name: String) -> Int? {
        parameters.first { $0.name == name }?.value
    }

    public var text: String {
        var result = "$" + algorithm
        if let version { result += "$v=\(version)" }
        result += "$" + parameters.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
        return result + "$" + PHCBase64.encode(salt) + "$" + PHCBase64.encode(hash)
    }
}

/// Standard base64 without padding, as PHC strings write salts and hashes.
enum PHCBase64 {
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String) -> [UInt8]? {
        guard !text.contains("=") else { return nil }
        return Data(base64Encoded: text + String(repeating: "=", count: (4 - text.count % 4) % 4)).map { [UInt8]($0) }
    }
}

/// Why a password could not be hashed or checked.
public enum PasswordHashError: Error, Hashable, Sendable, CustomStringConvertible {
    case malformedHash
    case unsupportedAlgorithm(String)
    /// Parameters above the cap: refused rather than run, so a crafted hash cannot exhaust memory.
    case parametersOverCap(String)
    case failed(String)

    public var description: String {
        switch self {
        case .malformedHash: return "the stored password hash is not a valid PHC string"
        case .unsupportedAlgorithm(let name): return "unsupported password hash algorithm '\(name)'"
        case .parametersOverCap(let detail): return "password hash parameters over the cap: \(detail)"
        case .failed(let detail): return "password hashing failed: \(detail)"
        }
    }
}
