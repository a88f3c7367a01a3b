import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IP address range in CIDR notation (`10.0.0.0/8`, `fd00::/8`; a bare address is a
/// range of one), for the proxies whose X-Forwarded-For the service trusts.
///
/// Addresses are compared as bytes: 4 for IPv4, 16 for IPv6; an IPv4-mapped IPv6 address
/// (`::ffff:10.0.0.1`) counts as its IPv4 address.
public struct AddressRange: Hashable, Sendable, CustomStringConvertible {
    let network: [UInt8]
    let prefixLength: Int

    /// Parses `address/prefix` or a bare address; `nil` for anything else, including host
    /// bits set beyond the prefix (`10.0.0.1/8` is most likely a typo).
    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let bytes = Self.bytes(of: String(parts[0])) else { return nil }
        let bits = bytes.count * 8
        let length: Int
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...bits).contains(given), parts[1].allSatisfy(\.isNumber) else {
                return nil
            }
            length = given
        } else {
            length = bits
        }
        guard Self.masked(bytes, length) == bytes else { return nil }
        network = bytes
        prefixLength = length
    }

    /// Whether `address` (in the form ``bytes(of:)`` returns) lies in the range.
    func contains(_ address: [UInt8]) -> Bool {
        address.count == network.count && Self.masked(address, prefixLength) == network
    }

    public var description: String { "\(Self.text(of: network))/\(prefixLength)" }

    /// The address's bytes (4 or 16; IPv4-mapped IPv6 as 4), or `nil` if it is not an address.
    /// An X-Forwarded-For entry's address: some proxies add the client's port, as
    /// `192.0.2.1:5555` or `[2001:db8::1]:5555`; that port is dropped.
    static func bytes(ofForwarded entry: String) -> [UInt8]? {
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
            return bytes(of: String(entry[entry.index(after: entry.startIndex)..<close]))
        }
        if entry.contains("."), let colon = entry.firstIndex(of: ":"), entry.filter({ $0 == ":" }).count == 1 {
            return bytes(of: String(entry[..<colon]))
        }
        return bytes(of: entry)
    }

    static func bytes(of text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        return unmapped(withUnsafeBytes(of: &v6) { Array($0) })
    }

    /// An IPv6 address's 16 bytes, or an IPv4-mapped one's (`::ffff:a.b.c.d`) 4.
    private static func unmapped(_ bytes: [UInt8]) -> [UInt8] {
        let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
        return mapped ? Array(bytes[12...]) : bytes
    }

    /// The address as rate limits and connection caps count it: an IPv4 address itself, an
    /// IPv6 address by its /64, since one subscriber is usually given a whole /64 and could
    /// otherwise be a new client with every request.
    static func clientKey(of bytes: [UInt8]) -> String {
        guard bytes.count == 16 else { return text(of: bytes) }
        return text(of: Array(bytes[0..<8]) + [UInt8](repeating: 0, count: 8)) + "/64"
    }

    /// The site of a client key of ``clientKey(of:)``, as wrong passwords on one account are
    /// counted beside the client's own: the key itself for IPv4 (and for anything that is not
    /// an address), an IPv6 client's /48. One site is given a /48 or a /56 (RFC 6177), so its
    /// /64s alone would be 256 to 65,536 clients, enough to use up an account's limit.
    static func siteKey(ofClient key: String) -> String {
        guard key.hasSuffix("/64"), let bytes = bytes(of: String(key.dropLast(3))), bytes.count == 16 else {
            return key
        }
        return text(of: Array(bytes[0..<6]) + [UInt8](repeating: 0, count: 10)) + "/48"
    }

    /// The address's bytes as ``bytes(of:)`` gives them for its text (IPv4-mapped IPv6 as 4),
    /// read from the socket address itself; `nil` for a Unix socket.
    static func bytes(of address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            return unmapped(withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) })
        case .unixDomainSocket:
            return nil
        }
    }

    /// The usual text of an address's bytes (4 or 16): dotted decimal for IPv4 (written here,
    /// as `inet_ntop` writes it), `inet_ntop`'s for IPv6.
    static func text(of bytes: [UInt8]) -> String {
        precondition(bytes.count == 4 || bytes.count == 16, "an address is 4 or 16 bytes")
        if bytes.count == 4 {
            return String(unsafeUninitializedCapacity: 15) { out in
                var at = 0
                for (index, byte) in bytes.enumerated() {
                    if index > 0 {
                        out[at] = UInt8(ascii: ".")
                        at += 1
                    }
                    if byte >= 100 {
                        out[at] = UInt8(ascii: "0") + byte / 100
                        at += 1
                    }
                    if byte >= 10 {
                        out[at] = UInt8(ascii: "0") + byte / 10 % 10
                        at += 1
                    }
                    out[at] = UInt8(ascii: "0") + byte % 10
                    at += 1
                }
                return at
            }
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = bytes.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard written != nil else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let kept = min(max(length - index * 8, 0), 8)
            return kept == 8 ? byte : byte & ~(UInt8(0xFF) >> kept)
        }
    }
}

/// Who a request comes from, for rate limits and connection caps.
///
/// Rules: the client is the TCP peer, unless the peer is a trusted proxy; then it is the
/// right-most X-Forwarded-For entry that is not itself a trusted proxy (each proxy appends
/// the address it saw, so entries to the right of that one were written by proxies we
/// trust, and entries to the left by the client, who may write anything). If every entry is
/// trusted, the left-most is the client; if an entry is not an address, or there is no
/// header, the peer is. From a peer that is not trusted the header is never read. The
/// answer is in the form of ``AddressRange/clientKey(of:)``: IPv6 clients by their /64.
struct ClientAddress {
    let trusted: [AddressRange]

    func isTrusted(_ address: [UInt8]) -> Bool { trusted.contains { $0.contains(address) } }

    /// The client's address as text, from the peer's address as text and the X-Forwarded-For
    /// values in the order they came: the reference the request path's
    /// ``resolve(peer:forwardedFor:)`` (from the socket's address) is tested against.
    func resolve(peer: String?, forwardedFor: [String]) -> String {
        guard let peer, let peerBytes = AddressRange.bytes(of: peer) else { return peer ?? "unknown" }
        return resolve(peerBytes: peerBytes, forwardedFor: { forwardedFor })
    }

    /// The same answer as ``resolve(peer:forwardedFor:)`` with the peer's address as text,
    /// from the socket's address without a round trip through text; `forwardedFor` is asked
    /// for only when the peer is trusted.
    func resolve(peer: SocketAddress?, forwardedFor: () -> [String]) -> String {
        guard let peer, let peerBytes = AddressRange.bytes(of: peer) else { return "unknown" }
        return resolve(peerBytes: peerBytes, forwardedFor: forwardedFor)
    }

    private func resolve(peerBytes: [UInt8], forwardedFor: () -> [String]) -> String {
        guard isTrusted(peerBytes) else { return AddressRange.clientKey(of: peerBytes) }
        let entries = forwardedFor().flatMap { $0.split(separator: ",") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        var client = peerBytes
        for entry in entries.reversed() {
            guard let bytes = AddressRange.bytes(ofForwarded: entry) else {
                return AddressRange.clientKey(of: peerBytes)
            }
            client = bytes
            if !isTrusted(bytes) { break }
        }
        return AddressRange.clientKey(of: client)
    }
}
