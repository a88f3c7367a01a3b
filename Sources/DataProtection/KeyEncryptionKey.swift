import COpenSSL
import Foundation

/// The key that wraps every user's data key. It never enters the log or the key store.
///
/// Where it comes from, first match wins:
/// 1. `AUTHLOG_KEK`: 32 bytes as base64url (43 characters) or hex (64 characters);
/// 2. `AUTHLOG_KEK_FILE`: a file holding that text (keep it outside the data directory to
///    separate the key from the data it protects, e.g. on another volume or a secrets mount);
/// 3. `DATA/kek`: generated on first start with mode 0600, only while no data key exists.
public struct KeyEncryptionKey: Sendable {
    package let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(DataProtectionError) {
        guard bytes.count == 32 else { throw .malformedKey("a key-encryption key is 32 bytes, got \(bytes.count)") }
        self.bytes = bytes
    }

    /// Parses base64url (43 characters) or hex (64 characters).
    public init(text raw: String, source: String) throws(DataProtectionError) {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.count == 64, let bytes = Self.hex(text) {
            try self.init(bytes: bytes)
        } else if text.count == 43, let bytes = Self.base64url(text) {
            try self.init(bytes: bytes)
        } else {
            throw .malformedKey(
                "the key-encryption key in \(source) is not 32 bytes as base64url (43 characters) or hex (64)")
        }
    }

    /// A new random key.
    public static func generate() throws(DataProtectionError) -> KeyEncryptionKey {
        var bytes = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&bytes, 32) == 1 else { throw .crypto("RAND_bytes failed") }
        return try KeyEncryptionKey(bytes: bytes)
    }

    /// The key as base64url, for writing to a file.
    public var text: String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(
            of: "/", with: "_"
        )
        .replacingOccurrences(of: "=", with: "")
    }

    /// A value derived from the key, stored in the key store's header so that a wrong key is
    /// recognised at start instead of producing garbage. It reveals nothing of the key.
    package var checkValue: [UInt8] { hmacSHA256(key: bytes, Array("authlog key-encryption key check".utf8)) }

    /// The key from the environment or the data directory; see the type's documentation.
    /// `mayGenerate` is true only when no data key exists yet.
    /// A key file others can read, or another user can rewrite, is not a secret any more: one
    /// in the data directory is tightened to 0600 when this process owns it (a copy made with
    /// `cp -p` or tar keeps a loose mode); any other is refused with what to do
    /// (``SecretFile/problem(with:at:what:)``).
    static func refuseLooseKeyFile(_ path: String, tighten: Bool) throws(DataProtectionError) {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        if tighten, info.st_mode & 0o077 != 0, info.st_uid == geteuid(), chmod(path, 0o600) == 0 { return }
        if let problem = SecretFile.problem(with: info, at: path, what: "the key-encryption key file") {
            throw .keyStore(problem)
        }
    }

    public static func load(
        dataDirectory: String, environment: [String: String], mayGenerate: Bool
    ) throws(DataProtectionError) -> (key: KeyEncryptionKey, source: String) {
        if let text = environment["AUTHLOG_KEK"], !text.isEmpty {
            return (try KeyEncryptionKey(text: text, source: "AUTHLOG_KEK"), "AUTHLOG_KEK")
        }
        if let path = environment["AUTHLOG_KEK_FILE"], !path.isEmpty {
            try refuseLooseKeyFile(path, tighten: false)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw .missingKey("cannot read the key-encryption key file \(path) named by AUTHLOG_KEK_FILE")
            }
            return (try KeyEncryptionKey(text: text, source: path), path)
        }
        let path = dataDirectory + "/kek"
        if FileManager.default.fileExists(atPath: path) {
            try refuseLooseKeyFile(path, tighten: true)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw .missingKey("cannot read the key-encryption key file \(path)")
            }
            return (try KeyEncryptionKey(text: text, source: path), path)
        }
        guard mayGenerate else {
            throw .missingKey(
                "no key-encryption key: \(path) is missing and neither AUTHLOG_KEK nor AUTHLOG_KEK_FILE is set, "
                    + "but the data keys in \(dataDirectory)/keys were wrapped with one; restore it or set it")
        }
        let key = try generate()
        // Written whole into a file of its own (0600 from its first byte), then linked into
        // place: a reader never sees half a key, and a key another process linked first wins.
        var suffix = [UInt8](repeating: 0, count: 8)
        guard RAND_bytes(&suffix, 8) == 1 else { throw .crypto("RAND_bytes failed") }
        let temporary = path + ".tmp-" + suffix.map { String($0, radix: 16) }.joined()
        try SecretFile.create(temporary, contents: Array((key.text + "\n").utf8))
        defer { unlink(temporary) }
        if link(temporary, path) != 0 {
            if errno == EEXIST {
                return try load(dataDirectory: dataDirectory, environment: environment, mayGenerate: false)
            }
            // A file system without hard links: rename, which replaces instead of failing.
            guard [EPERM, ENOTSUP, EOPNOTSUPP].contains(errno), rename(temporary, path) == 0 else {
                throw .keyStore("cannot create \(path): \(errnoText())")
            }
        }
        return (key, path)
    }

    /// The bytes a string of hex digit pairs spells, or `nil` if it is not one.
    static func hex(_ text: String) -> [UInt8]? {
        guard text.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }

    private static func base64url(_ text: String) -> [UInt8]? {
        let standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "="
        return Data(base64Encoded: standard).map { [UInt8]($0) }
    }
}
