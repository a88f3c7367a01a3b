import DataProtection
import Foundation

/// Where authd hands its mail over, and how: parsed from `smtp://USER:PASS@HOST:PORT` or
/// `smtps://...`.
///
/// Rules:
/// - `smtps://` speaks TLS from the first byte (implicit TLS, port 465 by default).
/// - `smtp://` (port 587 by default) upgrades with STARTTLS. ``TLSPolicy/automatic`` (the
///   default) requires it unless the host is loopback (`localhost`, an address in
///   `127.0.0.0/8`, `::1`; a name is never taken for one),
///   where it is used when the server offers it; ``TLSPolicy/required`` and
///   ``TLSPolicy/opportunistic`` say so for every host.
/// - AUTH is used when the URL names a user. The password comes from the URL
///   (percent-encoded) or, when given, from a file (``init(url:passwordFile:tls:caFile:)``),
///   which wins; a file others can read or write (any group or other mode bit) is refused.
///   Neither is ever part of ``description``.
/// - No path, query or fragment; a host is required.
public struct SMTPSettings: Sendable, CustomStringConvertible {
    /// How STARTTLS is used on `smtp://`.
    public enum TLSPolicy: String, Sendable, CaseIterable {
        case automatic = "auto"
        case required
        case opportunistic
    }

    /// `smtp://host:port` or `smtps://host:port`: what the transfer connects to, with no credentials.
    public let serverURL: String
    public let host: String
    public let port: Int
    public let implicitTLS: Bool
    /// Whether a server that does not offer STARTTLS is refused (`smtp://` only).
    public let requiresTLS: Bool
    public let username: String?
    let password: String?
    /// A CA bundle to trust instead of the system's (a private relay's own certificate).
    public let caFile: String?

    /// Parses the URL; throws ``SMTPSettingsError`` saying what is wrong (never echoing a password).
    public init(url text: String, passwordFile: String? = nil, tls: TLSPolicy = .automatic, caFile: String? = nil)
        throws(SMTPSettingsError)
    {
        let lower = text.lowercased()
        let implicitTLS: Bool
        if lower.hasPrefix("smtps://") {
            implicitTLS = true
        } else if lower.hasPrefix("smtp://") {
            implicitTLS = false
        } else {
            throw .invalid("the SMTP URL must start with smtp:// or smtps://")
        }
        var rest = Substring(text.dropFirst(implicitTLS ? 8 : 7))
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
            guard rest[end...].allSatisfy({ $0 == "/" }) else {
                throw .invalid("the SMTP URL has no path, query or fragment: smtp[s]://USER:PASS@HOST:PORT")
            }
            rest = rest[..<end]
        }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let user = parts[0].removingPercentEncoding, !user.isEmpty else {
                throw .invalid("the SMTP URL's user is empty or badly percent-encoded")
            }
            username = user
            if parts.count == 2 {
                guard let decoded = parts[1].removingPercentEncoding else {
                    throw .invalid("the SMTP URL's password is badly percent-encoded")
                }
                password = decoded
            }
        }
        var host = String(rest)
        var port = implicitTLS ? 465 : 587
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw .invalid("the SMTP URL's IPv6 host lacks its ]") }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let given = Int(after.dropFirst()), (1...65_535).contains(given) else {
                    throw .invalid("the SMTP URL's port must be 1 to 65535")
                }
                port = given
            } else if !after.isEmpty {
                throw .invalid("the SMTP URL's host is not valid")
            }
            host = String(host[...close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let given = Int(host[host.index(after: colon)...]), (1...65_535).contains(given) else {
                throw .invalid("the SMTP URL's port must be 1 to 65535")
            }
            port = given
            host = String(host[..<colon])
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0.isNewline || $0 == "@" }) else {
            throw .invalid("the SMTP URL needs a host: smtp[s]://USER:PASS@HOST:PORT")
        }
        if let passwordFile {
            guard username != nil else { throw .invalid("a password file needs a user in the SMTP URL") }
            var info = stat()
            guard stat(passwordFile, &info) == 0, let data = FileManager.default.contents(atPath: passwordFile) else {
                throw .invalid("cannot read the SMTP password file \(passwordFile)")
            }
            if let problem = SecretFile.problem(with: info, at: passwordFile, what: "the SMTP password file") {
                throw .invalid(problem)
            }
            var read = String(decoding: data, as: UTF8.self)
            while read.hasSuffix("\n") || read.hasSuffix("\r") { read.removeLast() }
            password = read
        }
        let loopback = Self.isLoopback(host)
        self.serverURL = (implicitTLS ? "smtps://" : "smtp://") + host + ":\(port)"
        self.host = host
        self.port = port
        self.implicitTLS = implicitTLS
        switch tls {
        case .automatic: self.requiresTLS = !loopback
        case .required: self.requiresTLS = true
        case .opportunistic: self.requiresTLS = false
        }
        self.username = username
        self.password = password
        self.caFile = caFile
    }

    /// Whether `host` (as the URL gives it, an IPv6 address in brackets) is `localhost`, an
    /// IPv4 address in 127.0.0.0/8 or `::1`: only an address, never a name that looks like one
    /// (`127.mail.example.com` is resolved by DNS, and the answer can be anywhere).
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if bare == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, bare, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { $0.elementsEqual([UInt8](repeating: 0, count: 15) + [1]) }
        }
        return false
    }

    /// The server and how it is reached, for logs: never the password.
    public var description: String {
        let tls = implicitTLS ? "implicit TLS" : requiresTLS ? "STARTTLS required" : "STARTTLS if offered"
        return "\(serverURL) (\(tls)\(username.map { ", AUTH as \($0)" } ?? ""))"
    }
}

/// A configuration of the SMTP delivery that cannot work.
public enum SMTPSettingsError: Error, CustomStringConvertible, Equatable {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let reason): reason
        }
    }
}
