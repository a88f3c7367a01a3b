/// The address clients reach authd at, such as `https://auth.example.com` or
/// `https://example.com/auth`: the base of the links authd hands out.
///
/// Rules:
/// - The scheme is `http` or `https`; there is a host; there is no query, fragment or user.
/// - It is kept without a trailing slash, so that `url(path)` joins with exactly one.
public struct PublicURL: Sendable, Equatable, CustomStringConvertible {
    /// The base, without a trailing slash.
    public let base: String

    /// Whether clients reach authd over TLS (cookies are then `Secure`).
    public var isHTTPS: Bool { base.hasPrefix("https://") }

    /// Parses a base URL; nil when it is not an http(s) URL with a host and nothing after its path.
    public init?(_ text: String) {
        let lower = text.lowercased()
        let scheme: String
        if lower.hasPrefix("https://") {
            scheme = "https://"
        } else if lower.hasPrefix("http://") {
            scheme = "http://"
        } else {
            return nil
        }
        let rest = text.dropFirst(scheme.count)
        let host = rest.prefix { $0 != "/" }
        guard !host.isEmpty, !host.contains("@"), !rest.contains("?"), !rest.contains("#"),
            !rest.contains(where: { $0 == " " || $0.isNewline })
        else { return nil }
        var base = scheme + rest
        while base.hasSuffix("/") { base.removeLast() }
        self.base = base
    }

    /// `http://host:port`, the default when none is given (an IPv6 host in brackets).
    public init(host: String, port: Int) {
        let shown = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        self.base = "http://\(shown):\(port)"
    }

    /// The base joined with `path`, which starts with "/".
    public func url(_ path: String) -> String {
        precondition(path.hasPrefix("/"), "a path starts with /")
        return base + path
    }

    public var description: String { base }
}
